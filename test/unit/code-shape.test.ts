// The shape promised in docs/design.md, checked on every run: a short composition root and no
// function in src/ over 80 lines, so a newcomer reads each behaviour in one screenful or two.
// (TypeScript 7 has no JavaScript API; the functions are found with vite's parser, oxc.)
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { parseAst } from "vite";
import { expect, it } from "vitest";

const SRC = join(import.meta.dirname, "../../src");
const LIMIT = 80;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === "generated") return [];
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith(".ts") ? [path] : [];
  });
}

const FUNCTIONS = new Set(["FunctionDeclaration", "FunctionExpression", "ArrowFunctionExpression"]);

/** Every function over `limit` lines, as "file:line (n lines)". */
function longFunctions(limit: number): string[] {
  const found: string[] = [];
  for (const path of sourceFiles(SRC)) {
    const text = readFileSync(path, "utf8");
    const lineAt = (offset: number) => text.slice(0, offset).split("\n").length;
    const visit = (node: unknown): void => {
      if (Array.isArray(node)) return node.forEach(visit);
      if (node === null || typeof node !== "object") return;
      const n = node as { type?: string; start: number; end: number };
      if (n.type && FUNCTIONS.has(n.type)) {
        const lines = lineAt(n.end) - lineAt(n.start) + 1;
        if (lines > limit) found.push(`${relative(SRC, path)}:${lineAt(n.start)} (${lines} lines)`);
      }
      for (const value of Object.values(n)) if (value && typeof value === "object") visit(value);
    };
    visit(parseAst(text, { lang: "ts" }, path));
  }
  return found;
}

it("finds a long function (the check itself can fail)", () => {
  expect(longFunctions(40).length).toBeGreaterThan(0);
});

it(`no function in src/ is over ${LIMIT} lines`, () => {
  expect(longFunctions(LIMIT)).toEqual([]);
});

it(`the composition root, src/app.ts, is under ${LIMIT} lines`, () => {
  expect(readFileSync(join(SRC, "app.ts"), "utf8").trimEnd().split("\n").length).toBeLessThan(LIMIT);
});
