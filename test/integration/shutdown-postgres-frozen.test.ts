// SIGTERM while PostgreSQL is frozen (a proxy that keeps the connections open and forwards nothing),
// on the real worker process, with nothing in flight but the bulk reprocess loop's idle read of the
// running bulks. Nothing can be lost, so the shutdown is clean: exit 0 within seconds. Before: the
// bulk loop's close waited for that read for the whole remaining budget (its client timeout is
// DATABASE_STATEMENT_TIMEOUT + 2 s), the outbox and the platform got 0 ms, and pool.end() waited on
// the connection still checked out to the frozen server: exit 124 at SHUTDOWN_TIMEOUT. With webhooks
// and the events queue on, the outbox's close waited for the delivery's claim read (its client
// timeout) after the relay's round (5 s) and its leases (1 s), one after the other: exit 124 too.
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { resetTables, testDatabaseUrl, testDb } from "../support/db.js";
import { deletePrefix, uniquePrefix } from "../support/redis.js";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.js";
import { killStillRunning, runCli, workerEnv, type CliProcess } from "../support/worker-process.js";
import { startWebhookReceiver, webhooksJson } from "../support/webhook-receiver.js";

const db = testDb();
let prefix: string;
let proxy: TcpProxy;
const workers: CliProcess[] = [];

beforeEach(async () => {
  prefix = uniquePrefix();
  proxy = await startTcpProxy();
  await resetTables(db);
});
afterEach(async () => {
  killStillRunning(workers);
  proxy.restore();
  await proxy.close();
  await deletePrefix(prefix);
});
afterAll(() => db.$disconnect());

/** Freezes PostgreSQL, waits (3 s at most) until the freeze holds something the worker sent, then SIGTERM: the exit, its time, the error lines. */
async function freezeThenStop(worker: CliProcess, label: string) {
  proxy.freeze();
  for (const until = Date.now() + 3000; proxy.heldFromClients().length === 0 && Date.now() < until; ) await new Promise((resolve) => setTimeout(resolve, 50));
  const started = Date.now();
  worker.proc.kill("SIGTERM");
  const { code } = await worker.exited;
  const ms = Date.now() - started;
  console.info(`SIGTERM with PostgreSQL frozen, ${label}: exit ${code} after ${ms} ms`);
  const problems = worker.lines().filter((l) => (l.level as number) >= 50).map((l) => ({ msg: l.msg, forced: l.forced, failed: l.failed }));
  return { code, ms, problems };
}

describe("SIGTERM while PostgreSQL is frozen", () => {
  it("with only the idle polling in flight, the worker exits 0 within seconds, not 124 at SHUTDOWN_TIMEOUT", async () => {
    const worker = runCli(["start"], workerEnv(prefix, { DATABASE_URL: proxy.url(testDatabaseUrl()), SHUTDOWN_TIMEOUT: "PT10S" }));
    workers.push(worker);
    await worker.waitForLog("watchdog started");
    // The bulk loop's next idle tick (every second) sends its read, or the start-up of a connection for
    // it, and the freeze holds it: the read waits for its client timeout, or its connect timeout. (A
    // connection whose start-up went out just before the freeze waits for its answer, sending nothing
    // more: so at most 3 s.)
    const { code, ms, problems } = await freezeThenStop(worker, "idle");
    expect({ code, problems }).toEqual({ code: 0, problems: [] });
    expect(ms).toBeLessThan(5000);
    expect(worker.lines().some((l) => l.msg === "shut down cleanly")).toBe(true);
  }, 30_000);

  it("with webhooks and the events queue on and nothing to deliver, the worker exits 0 within seconds too", async () => {
    const receiver = await startWebhookReceiver([7, 8]);
    try {
      const worker = runCli(
        ["start"],
        workerEnv(prefix, { DATABASE_URL: proxy.url(testDatabaseUrl()), SHUTDOWN_TIMEOUT: "PT10S", WEBHOOKS_JSON: webhooksJson(receiver, [7, 8]), EVENTS_QUEUE_ENABLED: "true", OUTBOX_POLL_INTERVAL: "PT0.1S" }),
      );
      workers.push(worker);
      await worker.waitForLog("watchdog started");
      // The relay's and the delivery's polls (every 100 ms) and the bulk loop's tick send their reads: held.
      const { code, ms, problems } = await freezeThenStop(worker, "webhooks and events queue on");
      expect({ code, problems }).toEqual({ code: 0, problems: [] });
      // The relay's round (1 s) and lease hand-over (1 s) beside the delivery's claim (1 s), then the pools' ends (1 s each).
      expect(ms).toBeLessThan(7000);
    } finally {
      await receiver.close();
    }
  }, 30_000);
});
