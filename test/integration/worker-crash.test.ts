// A bug that escapes every handler of the running worker (`watchdog start`): an exception thrown from
// a callback, or a rejection nobody handles. The process must not run on in an unknown state: it
// exits 1, as a crash does, after one fatal pino line with the error, which log aggregation sees.
// Before: Node's raw stack on stderr and no log line at all. The fault comes from a preload
// (test/support/crash-preload.ts) on SIGUSR2.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { deletePrefix, uniquePrefix } from "../support/redis.js";
import { killStillRunning, runCli, workerEnv, type CliProcess } from "../support/worker-process.js";

let prefix: string;
const workers: CliProcess[] = [];
beforeEach(() => {
  prefix = uniquePrefix();
});
afterEach(async () => {
  killStillRunning(workers);
  await deletePrefix(prefix);
});

describe("a crash of the running worker", () => {
  it.each([
    ["an uncaught exception", "exception", "crash-test: an exception nobody caught"],
    ["an unhandled rejection", "rejection", "crash-test: a rejection nobody handled"],
  ])("%s is one fatal log line with the error, then exit 1", async (_, kind, message) => {
    const worker = runCli(["start"], workerEnv(prefix, { WATCHDOG_TEST_CRASH: kind }), { imports: ["./test/support/crash-preload.ts"] });
    workers.push(worker);
    await worker.waitForLog("watchdog started");
    worker.proc.kill("SIGUSR2");
    const { code, signal } = await worker.exited;
    const fatal = worker.lines().filter((l) => l.level === 60);
    expect({ code, signal, fatal: fatal.map((l) => ({ service: l.service, message: (l.err as { message?: string } | undefined)?.message })) }).toEqual({
      code: 1,
      signal: null,
      fatal: [{ service: "task-watchdog", message }],
    });
    expect(fatal[0]!.msg).toMatch(/exiting/);
    expect((fatal[0]!.err as { stack?: string }).stack).toContain(message);
    expect(worker.stderr()).not.toContain(message); // no raw stack beside the log line
  }, 30_000);
});
