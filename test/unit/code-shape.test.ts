// The shape promised in docs/design.md, checked on every run: a short composition root, no
// function in src/ over 80 lines, so a newcomer reads each behaviour in one screenful or two, and
// no import cycle between the modules of src/.
// (TypeScript 7 has no JavaScript API; the functions and imports are found with vite's parser, oxc.
// A cycle finder such as dpdm would bring a second TypeScript compiler for what is a graph walk
// over imports this file already parses; dpdm, run once by hand on 2026-12-06, found the same cycle.)
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
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

/**
 * Each module of src/ and the modules of src/ it imports at load time: static imports and re-exports,
 * not `import type` (erased) nor `import()` (loaded later, on purpose: the optional features).
 */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const path of sourceFiles(SRC)) {
    const body = (parseAst(readFileSync(path, "utf8"), { lang: "ts" }, path) as unknown as { body: { type: string; importKind?: string; exportKind?: string; source?: { value: string } | null }[] }).body;
    const targets = body
      .filter((n) => ["ImportDeclaration", "ExportNamedDeclaration", "ExportAllDeclaration"].includes(n.type) && n.source && n.importKind !== "type" && n.exportKind !== "type")
      .map((n) => n.source!.value)
      .filter((request) => request.startsWith("."))
      .map((request) => relative(SRC, resolve(dirname(path), request.replace(/\.js$/, ".ts"))));
    graph.set(relative(SRC, path), targets);
  }
  return graph;
}

/** The import cycles of `graph`, each as "a → b → a" (one per cycle found by a depth-first walk). */
function importCycles(graph: Map<string, string[]>): string[] {
  const cycles: string[] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const walk = (module: string): void => {
    state.set(module, "open");
    stack.push(module);
    for (const next of graph.get(module) ?? []) {
      if (state.get(next) === "open") cycles.push([...stack.slice(stack.indexOf(next)), next].join(" → "));
      else if (!state.has(next)) walk(next);
    }
    stack.pop();
    state.set(module, "done");
  };
  for (const module of [...graph.keys()].sort()) if (!state.has(module)) walk(module);
  return cycles;
}

it("finds an import cycle (the check itself can fail)", () => {
  const graph = new Map([["a.ts", ["b.ts"]], ["b.ts", ["c.ts"]], ["c.ts", ["a.ts"]], ["d.ts", ["a.ts"]]]);
  expect(importCycles(graph)).toEqual(["a.ts → b.ts → c.ts → a.ts"]);
  expect(importGraph().get("app.ts")?.length).toBeGreaterThan(5);
});

it("no import cycle between the modules of src/", () => {
  expect(importCycles(importGraph())).toEqual([]);
});
