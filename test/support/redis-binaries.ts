// Tests that start a Redis of their own need redis-server (and, for a cluster, redis-cli) on PATH.
// Without them, say so at once instead of a hook timing out with `spawn redis-server ENOENT`.
import { spawnSync } from "node:child_process";

export function requireRedisBinaries(binaries: readonly string[] = ["redis-server", "redis-cli"]): void {
  for (const binary of binaries) {
    const found = spawnSync(binary, ["--version"], { encoding: "utf8", timeout: 10_000 });
    if (found.error) {
      throw new Error(
        `${binary} is not on PATH: the tests that need a Redis of their own (a cluster, a password, an outage) start redis-server processes and set a cluster up with redis-cli; install Redis (apt-get install -y redis-server, brew install redis) or put its bin directory on PATH (${(found.error as NodeJS.ErrnoException).code})`,
      );
    }
  }
}
