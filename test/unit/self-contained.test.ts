// The repository stands on its own: no tracked file refers to anything outside it, and every
// relative link of the README and docs/ points at a file that exists. An applied migration is
// exempt: it is never edited (its checksum is recorded in every deployed database).
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const EXEMPT = [/^prisma\/migrations\/20261128000000_init\//, /^package-lock\.json$/];
const files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard"], { cwd: ROOT, encoding: "utf8" })
  .split("\n")
  .filter((f) => f !== "" && existsSync(join(ROOT, f)) && !EXEMPT.some((e) => e.test(f)));

// Outside references: the team's notes beside the repository, and section numbers of a document that is not here.
const OUTSIDE = [/\.\.\/shared\b/, /\bshared\/(SPEC|ENVIRONMENT|STYLE)\.md\b/, /\bSPEC(\.md)?\s*§/, /\bSPEC\.md\b/];

describe("the repository is self-contained", () => {
  it("when any tracked file is read, then none refers to a document outside the repository", () => {
    // This file spells the patterns out; it is the one place allowed to.
    const offenders = files
      .filter((f) => f !== "test/unit/self-contained.test.ts")
      .flatMap((f) => {
        const text = readFileSync(join(ROOT, f), "utf8");
        return text.split("\n").flatMap((line, i) => (OUTSIDE.some((p) => p.test(line)) ? [`${f}:${i + 1}: ${line.trim().slice(0, 120)}`] : []));
      });
    expect(offenders).toEqual([]);
  });

  it("when the README and docs/ link a relative path, then the file exists inside the repository", () => {
    const docs = files.filter((f) => f === "README.md" || (f.startsWith("docs/") && f.endsWith(".md")));
    expect(docs.length).toBeGreaterThan(1);
    const broken = docs.flatMap((f) => {
      const text = readFileSync(join(ROOT, f), "utf8");
      return [...text.matchAll(/\]\(([^)\s]+)\)/g)]
        .map((m) => m[1]!)
        .filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target) && !target.startsWith("#"))
        .flatMap((target) => {
          const path = normalize(join(dirname(f), decodeURIComponent(target.split("#")[0]!)));
          const inside = !path.startsWith("..");
          return inside && existsSync(join(ROOT, path)) ? [] : [`${f}: ${target}`];
        });
    });
    expect(broken).toEqual([]);
  });
});
