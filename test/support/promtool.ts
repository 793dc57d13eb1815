// Runs Debian's `promtool` (package `prometheus`; .ci/run installs it). Missing promtool fails the
// test that needs it, with the fix, instead of skipping: a check that silently does not run proves nothing.
import { spawnSync } from "node:child_process";

export interface PromtoolRun {
  status: number;
  stdout: string;
  stderr: string;
}

export function promtool(args: string[], input?: string): PromtoolRun {
  const run = spawnSync("promtool", args, { input, encoding: "utf8", timeout: 60_000 });
  if (run.error && (run.error as NodeJS.ErrnoException).code === "ENOENT") {
    throw new Error("promtool is not installed: `apt-get install -y prometheus` (Debian's package carries it; .ci/run installs it)");
  }
  if (run.error) throw run.error;
  return { status: run.status ?? -1, stdout: run.stdout, stderr: run.stderr };
}
