// A worker started by a test through runCli must not outlive the test process: a leftover one keeps
// polling its queues, so the keys the test deleted come back (`…:meta`, `…:stalled-check`) and it
// holds Redis and PostgreSQL connections for ever.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { testDatabaseUrl } from "../support/db.js";
import { deletePrefix, testRedisUrl, uniquePrefix } from "../support/redis.js";

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

it("when the test process exits abruptly, the worker it started through runCli goes with it", async () => {
  const prefix = uniquePrefix();
  const parent = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL("../support/orphan-check.ts", import.meta.url)), testDatabaseUrl(), testRedisUrl(), prefix], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  parent.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")));
  await new Promise((resolve) => parent.on("exit", resolve));
  const pid = Number(out.trim().split("\n").pop());
  expect(pid).toBeGreaterThan(0);
  try {
    await expect.poll(() => alive(pid), { timeout: 5000, interval: 100 }).toBe(false);
  } finally {
    if (alive(pid)) process.kill(pid, "SIGKILL"); // ours: started by this test
    await deletePrefix(prefix);
  }
}, 90_000);
