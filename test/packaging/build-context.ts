// A clean build context, as `docker build .` would send it from a fresh checkout: the files git
// knows (tracked, plus new files not ignored), minus .dockerignore. Never this checkout's
// node_modules, dist or generated client.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** .dockerignore lines as regular expressions: plain paths and `*`, `**`, `?` globs; a match covers what is below it. */
export function dockerignoreMatchers(text: string): RegExp[] {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((pattern) => {
      if (pattern.startsWith("!")) throw new Error(`.dockerignore: exceptions (${pattern}) are not supported by test/packaging/build-context.ts`);
      const glob = pattern
        .replace(/^\/+|\/+$/g, "")
        .split(/(\*\*|\*|\?)/)
        .map((part) => (part === "**" ? ".*" : part === "*" ? "[^/]*" : part === "?" ? "[^/]" : part.replace(/[.+^${}()|[\]\\]/g, "\\$&")))
        .join("");
      return new RegExp(`^${glob}(/.*)?$`);
    });
}

export function copyBuildContext(repoDir: string, contextDir: string): string[] {
  const ignored = dockerignoreMatchers(readFileSync(join(repoDir, ".dockerignore"), "utf8"));
  const files = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: repoDir, encoding: "utf8" })
    .split("\0")
    .filter((file) => file !== "" && existsSync(join(repoDir, file)) && !ignored.some((re) => re.test(file)));
  for (const file of files) {
    mkdirSync(dirname(join(contextDir, file)), { recursive: true });
    cpSync(join(repoDir, file), join(contextDir, file));
  }
  return files;
}
