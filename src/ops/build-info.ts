// What watchdog_build_info reports: the package's version (package.json sits two levels above this
// file in src/ and in dist/ alike, and the image copies it) and the commit the build came from.
import { readFileSync } from "node:fs";
import type { BuildInfo } from "./metrics.js";

export function buildInfo(commit: string | undefined): BuildInfo {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: unknown };
  return { version: typeof pkg.version === "string" ? pkg.version : "unknown", commit: commit ?? "unknown" };
}
