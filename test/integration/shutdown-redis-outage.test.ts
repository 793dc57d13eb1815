// SIGTERM during a Redis outage (a rolling deploy in an incident), on the real worker process against
// a redis-server of the test's own. Before: a BullMQ worker's close() waited for its blocking
// connection's `end`, which a connection between reconnect attempts never emits, so the process
// sat out SHUTDOWN_TIMEOUT and exited 1 with the work in flight cut. Now: exit 0 within seconds when
// nothing was in flight; a job in flight is recorded when Redis returns inside the budget, and when it
// does not, the exit says "forced" (124) and the job stays in Redis for another replica.
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { REPROCESS_JOB, REPROCESS_QUEUE } from "../../src/platform/queue-names.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { holdTransaction, insertTasks, resetTables, testDatabaseUrl, testDb } from "../support/db.js";
import { startOwnRedis, type OwnRedis } from "../support/redis-server.js";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.js";
import { runCli, type CliProcess } from "../support/worker-process.js";
import { startWebhookReceiver, webhooksJson } from "../support/webhook-receiver.js";
import { runSweep } from "../../src/sweep/run-sweep.js";
import { buildRules } from "../../src/rules/rules.js";
import { QUEUE_TARGET } from "../../src/outbox/sql/targets.js";
import { uniquePrefix } from "../support/redis.js";

const db = testDb();
let redis: OwnRedis;
let proxy: TcpProxy | undefined;
let prefix: string;
const workers: CliProcess[] = [];
const closers: (() => Promise<unknown>)[] = [];

beforeEach(async () => {
  prefix = uniquePrefix();
  redis = await startOwnRedis({ persistent: true });
  await resetTables(db);
});
afterEach(async () => {
  for (const w of workers.splice(0)) if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill("SIGKILL");
  for (const close of closers.splice(0)) await close().catch(() => undefined);
  await proxy?.close();
  proxy = undefined;
  await redis.stop();
});
afterAll(() => db.$disconnect());

function startWorker(redisUrl: string, env: Record<string, string> = {}): CliProcess {
  const worker = runCli(["start"], {
    DATABASE_URL: testDatabaseUrl(),
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: prefix,
    API_PORT: "0",
    OPS_PORT: "0",
    SWEEP_SCHEDULE_ENABLED: "false",
    SHUTDOWN_TIMEOUT: "PT10S",
    ...env,
  });
  workers.push(worker);
  return worker;
}

/** The worker has seen the outage: one of its Redis connections logged an error. */
const redisErrorLogged = (line: Record<string, unknown>) => (line.level as number) >= 40 && /redis|connection/i.test(String(line.msg));

async function stopTimed(worker: CliProcess): Promise<{ code: number | null; ms: number }> {
  const started = Date.now();
  worker.proc.kill("SIGTERM");
  const { code } = await worker.exited;
  return { code, ms: Date.now() - started };
}

function producer(): Queue {
  const queue = new Queue(REPROCESS_QUEUE, { connection: { url: redis.url }, prefix });
  closers.push(() => queue.close());
  return queue;
}

/**
 * The worker holds the request: its statement waits behind the test's lock. ("active" in Redis is
 * not enough: the reply that hands the job to the worker may still be on its way when Redis is cut.)
 */
const inFlight = () =>
  expect
    .poll(async () => (await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)[0]!.n, { timeout: 10_000, interval: 50 })
    .toBe(1);

const taskRow = async (id: number) =>
  (await db.$queryRaw<{ restart_count: number; events: number }[]>`
    SELECT restart_count, (SELECT count(*)::int FROM task_events e WHERE e.task_id = t.id) AS events FROM tasks t WHERE id = ${id}::int`)[0]!;

describe("SIGTERM during a Redis outage", () => {
  it("with Redis down and nothing in flight, the worker exits 0 within seconds, inside SHUTDOWN_TIMEOUT — the outbox relay waiting on Redis included", async () => {
    const receiver = await startWebhookReceiver([7]);
    closers.push(() => receiver.close());
    const worker = startWorker(redis.url, { WEBHOOKS_JSON: webhooksJson(receiver, [7]), EVENTS_QUEUE_ENABLED: "true", OUTBOX_POLL_INTERVAL: "PT0.1S" });
    await worker.waitForLog("watchdog started");
    await redis.kill();
    await worker.waitForLine(redisErrorLogged, "a Redis connection error");
    // An event to relay while Redis is away; the relay's round waits on the events queue's connection:
    // its lease on that target, renewed every round (0.1 s), stops moving.
    await insertTasks(db, [{ status: S.ProcessingInProgress, ageSeconds: 5 * 3600, organizationId: 7 }]);
    await runSweep(db, buildRules(), { sweepId: "outage", dryRun: false, batchSize: 100 });
    const lease = async () => (await db.$queryRaw<{ at: Date | null }[]>`SELECT lease_expires_at AS at FROM outbox_cursors WHERE target = ${QUEUE_TARGET}`)[0]?.at?.getTime();
    // Stuck: the lease has not moved for a whole second (ten relay intervals). A first read compared
    // with one a moment later proves nothing: the relay may simply not have run in between.
    let seen = { at: await lease(), since: Date.now() };
    await expect
      .poll(
        async () => {
          const now = await lease();
          if (now !== seen.at) seen = { at: now, since: Date.now() };
          return now !== undefined && Date.now() - seen.since >= 1000;
        },
        { timeout: 10_000, interval: 100 },
      )
      .toBe(true);
    const { code, ms } = await stopTimed(worker);
    console.info(`SIGTERM with Redis down: exit ${code} after ${ms} ms`);
    expect({ code, lines: worker.lines().filter((l) => (l.level as number) >= 50).map((l) => l.msg) }).toEqual({ code: 0, lines: [] });
    // Within seconds, well inside SHUTDOWN_TIMEOUT (10 s): the relay's round waiting on Redis is cut,
    // not waited for. (A 6–7 s exit seen once in this round came with a lease check that passed at its
    // first read, before the relay was stuck at all; the check now waits for a lease that stands still.)
    expect(ms).toBeLessThan(5000);
    expect(worker.lines().some((l) => l.msg === "shut down cleanly")).toBe(true);
  }, 30_000);

  it("with Redis frozen (connections open, nothing answered) and nothing in flight, the worker exits 0 within seconds, not at the end of its budget", async () => {
    const worker = startWorker(redis.url);
    await worker.waitForLog("watchdog started");
    redis.freeze();
    const { code, ms } = await stopTimed(worker);
    redis.thaw();
    console.info(`SIGTERM with Redis frozen: exit ${code} after ${ms} ms`);
    expect({ code, ms: ms < 3000 }).toEqual({ code: 0, ms: true });
  }, 30_000);

  it("just after Redis came back (its connections between reconnect attempts), the worker exits 0 within seconds", async () => {
    const worker = startWorker(redis.url);
    await worker.waitForLog("watchdog started");
    await redis.kill();
    await worker.waitForLine(redisErrorLogged, "a Redis connection error");
    await redis.start();
    const { code, ms } = await stopTimed(worker);
    console.info(`SIGTERM just after Redis returned: exit ${code} after ${ms} ms`);
    expect(code).toBe(0);
    expect(ms).toBeLessThan(5000);
  }, 30_000);

  it("a reprocess in flight whose Redis returns inside the budget is recorded as completed, applied once, exit 0", async () => {
    proxy = await startTcpProxy({ host: "127.0.0.1", port: redis.port });
    const [id] = await insertTasks(db, [{ status: S.ExportFailed, ageSeconds: 60 }]);
    const worker = startWorker(proxy.url(redis.url));
    await worker.waitForLog("watchdog started");
    const queue = producer();
    // The request's UPDATE waits behind this lock: it is in flight while Redis goes and SIGTERM comes.
    const blocker = await holdTransaction("LOCK TABLE tasks IN SHARE MODE");
    closers.push(() => blocker.release());
    const job = await queue.add(REPROCESS_JOB, { taskId: id, requestedBy: "test" });
    await inFlight();
    proxy.cut();
    worker.proc.kill("SIGTERM");
    await worker.waitForLine((l) => String(l.msg).startsWith("shutting down"), "the shutdown line");
    await blocker.release();
    // Applied in PostgreSQL; its completion waits for Redis.
    await expect.poll(async () => (await taskRow(id!)).restart_count, { timeout: 10_000, interval: 50 }).toBe(1);
    proxy.restore();
    expect(await worker.exited).toEqual({ code: 0, signal: null });
    expect(await job.getState()).toBe("completed");
    expect(await taskRow(id!)).toEqual({ restart_count: 1, events: 1 });
  }, 40_000);

  it("a reprocess in flight whose Redis does not return: forced exit 124 within SHUTDOWN_TIMEOUT, the job kept for another replica, applied once", async () => {
    proxy = await startTcpProxy({ host: "127.0.0.1", port: redis.port });
    const [id] = await insertTasks(db, [{ status: S.ExportFailed, ageSeconds: 60 }]);
    const worker = startWorker(proxy.url(redis.url), { SHUTDOWN_TIMEOUT: "PT6S" });
    await worker.waitForLog("watchdog started");
    const queue = producer();
    const blocker = await holdTransaction("LOCK TABLE tasks IN SHARE MODE");
    closers.push(() => blocker.release());
    const job = await queue.add(REPROCESS_JOB, { taskId: id, requestedBy: "test" });
    await inFlight();
    proxy.cut();
    const stopping = stopTimed(worker);
    await blocker.release();
    const { code, ms } = await stopping;
    console.info(`SIGTERM with a job in flight and Redis not back: exit ${code} after ${ms} ms (SHUTDOWN_TIMEOUT 6 s)`);
    expect(code).toBe(124);
    expect(ms).toBeLessThan(6000);
    expect(worker.lines().some((l) => l.msg === "shutdown deadline passed: forcing exit")).toBe(false);
    // Not lost: still active in Redis (neither completed nor failed), applied once in PostgreSQL.
    expect(await job.getState()).toBe("active");
    expect(await taskRow(id!)).toEqual({ restart_count: 1, events: 1 });

    // Its lock expires (moved by writing, not by waiting 30 s) and the next worker's stalled check takes it
    // back: the redelivery finds the request already applied and completes it, changing nothing.
    const direct = new Redis(redis.url);
    closers.push(() => direct.quit());
    const key = (suffix: string) => `${prefix}:${REPROCESS_QUEUE}:${suffix}`;
    await direct.del(key(`${job.id}:lock`), key("stalled-check"));
    await direct.sadd(key("stalled"), job.id!);
    const next = startWorker(redis.url);
    await next.waitForLog("watchdog started");
    await expect.poll(() => job.getState(), { timeout: 15_000, interval: 100 }).toBe("completed");
    expect(await taskRow(id!)).toEqual({ restart_count: 1, events: 1 });
    expect((await stopTimed(next)).code).toBe(0);
  }, 60_000);
});
