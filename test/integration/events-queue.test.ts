// The outbox relay to the events queue (task-watchdog-events): every committed task event becomes
// one job, id `evt_<id>`, in order; an event whose transaction is still open when later ones are
// relayed is relayed when it commits (the bigserial gap); a rolled-back batch relays nothing.
import { Queue } from "bullmq";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startWatchdog, type Watchdog } from "../../src/app.js";
import { buildRules } from "../../src/rules/rules.js";
import { statusPlansFor } from "../../src/sweep/sweep-plan.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { revertStuckTasks } from "../../src/sweep/sql/revert-stuck-tasks.js";
import type { Db } from "../../src/platform/db/client.js";
import type { TaskEventMessage } from "../../src/outbox/message.js";
import { createLogger } from "../../src/platform/logger.js";
import { EVENTS_QUEUE } from "../../src/platform/queue-names.js";
import { runSweep } from "../../src/sweep/run-sweep.js";
import { createSweepQueue, enqueueSweep } from "../../src/sweep/sweep-queue.js";
import { testConfig } from "../support/config.js";
import { holdTransaction, insertTasks, resetTables, testDatabaseUrl, testDb } from "../support/db.js";
import { startTcpProxy } from "../support/tcp-proxy.js";
import { Registry } from "prom-client";
import { startOutboxRelay } from "../../src/outbox/relay.js";
import { createOutboxPool } from "../../src/outbox/outbox-pool.js";
import { createOutboxMetrics } from "../../src/outbox/metrics.js";
import { deletePrefix, testRedisUrl, uniquePrefix } from "../support/redis.js";

const H = 3600;
const rules = buildRules();
let db: Db;
let prefix: string;
let watchdog: Watchdog | undefined;
let queue: Queue<TaskEventMessage>;

beforeEach(async () => {
  db = testDb();
  await resetTables(db);
  prefix = uniquePrefix();
  queue = new Queue(EVENTS_QUEUE, { connection: { url: testRedisUrl() }, prefix });
});
afterEach(async () => {
  await watchdog?.close();
  watchdog = undefined;
  await queue.close();
  await db.$disconnect();
  await deletePrefix(prefix);
});

const start = async (env: Record<string, string> = {}) => {
  watchdog = await startWatchdog(testConfig(prefix, { EVENTS_QUEUE_ENABLED: "true", OUTBOX_POLL_INTERVAL: "PT0.05S", ...env }), rules, createLogger({ level: "silent" }));
  return watchdog;
};

/** The queue's jobs, oldest first (BullMQ's waiting list is LIFO-listed: reverse it). */
const jobs = async () => (await queue.getJobs(["waiting"], 0, -1, true)).map((j) => ({ id: j.id!, name: j.name, data: j.data }));

async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last: ${JSON.stringify(v).slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const eventIds = async () => (await db.$queryRaw<{ id: string }[]>`SELECT id::text FROM task_events ORDER BY txid, id`).map((r) => `evt_${r.id}`);

describe("the events queue", () => {
  it("when a sweep reverts tasks, each event becomes one job named by its type, id evt_<id>, with the documented data", async () => {
    await start();
    const ids = await insertTasks(db, [
      { status: S.ProcessingInProgress, ageSeconds: 5 * H, organizationId: 7, workspaceId: 3, externalId: "ext-1" },
      { status: S.QueuedForExport, ageSeconds: 2 * H, organizationId: 8 },
      { status: S.ExportCompleted, ageSeconds: 30 * 24 * H, organizationId: 8 },
    ]);
    await runSweep(db, rules, { sweepId: "sweep-q1", dryRun: false, batchSize: 1000 });
    const relayed = await until(jobs, (j) => j.length === 3);
    expect(relayed.map((j) => j.id).sort()).toEqual((await eventIds()).sort());
    const first = relayed.find((j) => j.data.taskId === ids[0])!;
    expect(first.name).toBe("task.auto_reverted");
    expect(first.data).toEqual({
      id: first.id,
      type: "task.auto_reverted",
      kind: "AUTO_REVERTED",
      taskId: ids[0],
      organizationId: 7,
      workspaceId: 3,
      externalId: "ext-1",
      fromStatus: { code: 41, name: "ProcessingInProgress" },
      toStatus: { code: 42, name: "ProcessingFailed" },
      reason: expect.stringMatching(/^stuck in ProcessingInProgress for 5 h/),
      actor: "watchdog",
      sweepId: "sweep-q1",
      stuckSince: expect.any(String),
      createdAt: expect.any(String),
      details: {},
    });
    const moved = relayed.find((j) => j.data.taskId === ids[2])!;
    expect(moved.data).toMatchObject({ type: "task.moved_to_history", fromStatus: { code: 63, name: "ExportCompleted" }, toStatus: null });
  });

  it("when a transaction that wrote an event (smaller id) is still open while a later one commits, the later one is relayed first and the held one once it commits", async () => {
    await start();
    const [a, b] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 0 }, { status: S.ToReview, ageSeconds: 0 }]);
    const insertEvent = (taskId: number, reason: string) =>
      `INSERT INTO task_events (task_id, kind, from_status, to_status, reason, actor) VALUES (${taskId}, 'REPROCESSED', 50, 30, '${reason}', 'test')`;
    const held = await holdTransaction(insertEvent(a!, "held"));
    await db.$executeRawUnsafe(insertEvent(b!, "later"));
    const [heldRow, laterRow] = await db.$queryRaw<{ id: string; reason: string }[]>`SELECT id::text, reason FROM task_events ORDER BY id`;
    // Only the later one is visible yet; the held one's id is smaller (it took it first).
    expect(heldRow!.reason).toBe("later");
    expect(laterRow).toBeUndefined();

    const first = await until(jobs, (j) => j.length === 1);
    expect(first[0]!.data.taskId).toBe(b);
    await held.release();
    const both = await until(jobs, (j) => j.length === 2);
    expect(both.map((j) => j.data.taskId)).toEqual([b, a]);
    const [heldId, laterId] = both.map((j) => Number(j.id!.slice(4)));
    expect(heldId).toBeGreaterThan(0);
    expect(heldId! > laterId!).toBe(true); // ... its id was the smaller one: an id cursor would have skipped it
  });

  it("when a batch rolls back, none of its events is relayed", async () => {
    await start();
    await insertTasks(db, Array.from({ length: 20 }, () => ({ status: S.ProcessingInProgress, ageSeconds: 5 * H })));
    const plan = statusPlansFor(rules).find((p) => p.status === S.ProcessingInProgress)!;
    await expect(
      db.$transaction(async (tx) => {
        await revertStuckTasks(tx as unknown as Db, { plan, thresholds: plan.thresholds, limit: 1000, asOf: null, sweepId: "rolled-back", escalateAfter: 3 });
        throw new Error("the batch fails after its statement");
      }),
    ).rejects.toThrow("the batch fails");
    // A committed batch afterwards: once it is relayed, the rolled-back one would have been too.
    await runSweep(db, rules, { sweepId: "committed", dryRun: false, batchSize: 1000 });
    const relayed = await until(jobs, (j) => j.length >= 20);
    await new Promise((r) => setTimeout(r, 200)); // a few more relay rounds
    const all = await jobs();
    expect(all).toHaveLength(20);
    expect(new Set(all.map((j) => j.data.sweepId))).toEqual(new Set(["committed"]));
    expect(relayed.map((j) => j.id).sort()).toEqual((await eventIds()).sort());
  });

  it("when relayed again (a crash between adding the jobs and moving the position), BullMQ keeps one job per event", async () => {
    await start();
    await insertTasks(db, Array.from({ length: 5 }, () => ({ status: S.ProcessingInProgress, ageSeconds: 5 * H })));
    await runSweep(db, rules, { sweepId: "s", dryRun: false, batchSize: 1000 });
    await until(jobs, (j) => j.length === 5);
    await watchdog!.close();
    // Move the position back to before the batch, as if the position update had been lost.
    await db.$executeRaw`UPDATE outbox_cursors SET snap_to = NULL, after_txid = 0, after_event_id = 0,
      snap_from = (SELECT (min(txid) - 1)::text || ':' || (min(txid) - 1)::text || ':' FROM task_events) WHERE target = 'queue'`;
    await start();
    await until(
      () => db.$queryRaw<{ n: bigint }[]>`SELECT delivered_count AS n FROM outbox_cursors WHERE target = 'queue'`,
      (r) => Number(r[0]!.n) >= 10,
    );
    expect(await jobs()).toHaveLength(5);
  });

  it("with the queue off (the default), nothing is relayed and no cursor is kept", async () => {
    watchdog = await startWatchdog(testConfig(prefix, { OUTBOX_POLL_INTERVAL: "PT0.05S" }), rules, createLogger({ level: "silent" }));
    await insertTasks(db, [{ status: S.ProcessingInProgress, ageSeconds: 5 * H }]);
    await runSweep(db, rules, { sweepId: "s", dryRun: false, batchSize: 1000 });
    await new Promise((r) => setTimeout(r, 200));
    expect(await jobs()).toHaveLength(0);
    expect(await db.$queryRaw`SELECT target FROM outbox_cursors`).toEqual([]);
  });
  it("when PostgreSQL is cut away, the relay logs, counts and tries again; once it is back, every event is relayed", async () => {
    const proxy = await startTcpProxy();
    try {
      const w = await start({ DATABASE_URL: proxy.url(testDatabaseUrl()) });
      const [task] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 0 }]);
      proxy.cut();
      await db.$executeRaw`INSERT INTO task_events (task_id, kind, from_status, to_status, reason, actor) SELECT ${task}, 'REPROCESSED', 50, 30, 'during the outage ' || g, 'test' FROM generate_series(1, 3) g`;
      const errors = async () => Number(/watchdog_outbox_relay_errors_total\{target="queue"\} (\d+)/.exec(await (await fetch(`${w.opsUrl}/metrics`)).text())?.[1] ?? 0);
      await until(errors, (n) => n >= 2);
      expect(await jobs()).toHaveLength(0);
      proxy.restore();
      const relayed = await until(jobs, (j) => j.length === 3);
      expect(relayed.map((j) => j.data.reason)).toEqual(["during the outage 1", "during the outage 2", "during the outage 3"]);
    } finally {
      await watchdog?.close();
      watchdog = undefined;
      await proxy.close();
    }
  });
  it("when the queue holds EVENTS_QUEUE_MAX_WAITING jobs nobody took, the relay stops adding (metric set), and the rest follow, in order, once consumers take jobs", async () => {
    const w = await start({ EVENTS_QUEUE_MAX_WAITING: "5", OUTBOX_BATCH_SIZE: "2" });
    const [task] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 0 }]);
    await db.$executeRaw`INSERT INTO task_events (task_id, kind, from_status, to_status, reason, actor) SELECT ${task}, 'REPROCESSED', 50, 30, 'event ' || g, 'test' FROM generate_series(1, 12) g`;
    const capped = async () => /^watchdog_events_queue_capped 1$/m.test(await (await fetch(`${w.opsUrl}/metrics`)).text());
    await until(capped, (c) => c);
    // At the cap (checked before each page of OUTBOX_BATCH_SIZE): never more than the cap plus one page.
    const held = await jobs();
    expect(held.length).toBeGreaterThanOrEqual(5);
    expect(held.length).toBeLessThanOrEqual(6);
    // Nothing lost: the outbox still holds them (the gauge is at most 5 s old).
    const pending = async () => Number(/^watchdog_outbox_pending_events\{target="queue"\} (\d+)$/m.exec(await (await fetch(`${w.opsUrl}/metrics`)).text())?.[1]);
    await until(pending, (n) => n === 12 - held.length);
    // A consumer takes the waiting jobs: the relay adds the rest.
    // It removes exactly the jobs it has seen: one the relay adds meanwhile stays for the next look.
    const seen = held.map((j) => j.data.reason);
    for (const j of held) await queue.remove(j.id);
    for (;;) {
      const next = await until(jobs, (j) => j.length > 0);
      seen.push(...next.map((j) => j.data.reason));
      for (const j of next) await queue.remove(j.id);
      if (seen.length >= 12) break;
    }
    expect(seen).toEqual(Array.from({ length: 12 }, (_, i) => `event ${i + 1}`));
    await until(capped, (c) => !c);
  });

  it("when another replica took the events queue's lease from one that saw it at its cap, that one's watchdog_events_queue_capped falls back to 0 (max across replicas follows the holder)", async () => {
    const logger = createLogger({ level: "silent" });
    const pool = createOutboxPool(testDatabaseUrl(), 2, logger);
    const registry = new Registry();
    const metrics = createOutboxMetrics({ registry, pool: null, targets: [], logger });
    const capped = async () => /^watchdog_events_queue_capped (\d)$/m.exec(await registry.metrics())?.[1];
    // One job nobody took: at the cap of 1.
    await queue.add("task.reverted", {} as TaskEventMessage, { jobId: "waiting-one" });
    const relay = await startOutboxRelay({ pool, owner: "replica-a", logger, metrics, intervalMs: 20, leaseMs: 5000, batchSize: 100, eventsQueue: queue, eventsQueueMaxWaiting: 1, webhookOrganizationIds: () => [] });
    try {
      await until(capped, (c) => c === "1");
      // Replica A stalled past its lease; replica B took the queue over (and reports the cap itself from now on).
      await db.$executeRaw`UPDATE outbox_cursors SET lease_owner = 'replica-b', lease_expires_at = now() + interval '1 hour' WHERE target = 'queue'`;
      // The consumers catch up: the queue is below its cap again; B's gauge says 0. A's must not keep saying 1.
      await queue.remove("waiting-one");
      await until(capped, (c) => c === "0", 3000);
    } finally {
      await relay.close();
      await pool.end();
    }
  });

  it("the events of a sweep this worker ran are relayed as soon as it ends, not at the next OUTBOX_POLL_INTERVAL", async () => {
    await start({ OUTBOX_POLL_INTERVAL: "PT60S" }); // its first round ran at start; the next would be a minute away
    await insertTasks(db, Array.from({ length: 30 }, () => ({ status: S.ProcessingInProgress, ageSeconds: 5 * H })));
    const sweeps = createSweepQueue({ url: testRedisUrl() }, prefix);
    try {
      const sweep = await enqueueSweep(sweeps, {});
      await expect.poll(() => sweep.getState(), { timeout: 10_000, interval: 50 }).toBe("completed");
      // The sweep worker's end wakes the relay, which had given way while it ran.
      await until(jobs, (j) => j.length === 30, 10_000);
    } finally {
      await sweeps.close();
    }
  });

  it("while this process sweeps, the relay gives way; it catches up as soon as the sweep ends", async () => {
    const logger = createLogger({ level: "silent" });
    const pool = createOutboxPool(testDatabaseUrl(), 2, logger);
    let sweeping = true;
    const relay = await startOutboxRelay({
      pool,
      owner: "test-relay",
      logger,
      metrics: createOutboxMetrics({ registry: new Registry(), pool: null, targets: [], logger }),
      intervalMs: 20,
      leaseMs: 5000,
      batchSize: 100,
      eventsQueue: queue,
      eventsQueueMaxWaiting: 1000,
      webhookOrganizationIds: () => [],
      deferWhile: () => sweeping,
    });
    try {
      await insertTasks(db, Array.from({ length: 30 }, () => ({ status: S.ProcessingInProgress, ageSeconds: 5 * H })));
      await runSweep(db, rules, { sweepId: "s", dryRun: false, batchSize: 1000 });
      await new Promise((r) => setTimeout(r, 300)); // 15 relay intervals
      expect(await jobs()).toHaveLength(0);
      sweeping = false;
      await until(jobs, (j) => j.length === 30);
    } finally {
      await relay.close();
      await pool.end();
    }
  });
});
