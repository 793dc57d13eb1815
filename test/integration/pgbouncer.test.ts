// The whole worker behind a real PgBouncer (Debian's 1.18, started here on a port of its own) in
// transaction pooling, with fewer server connections than the worker opens: every transaction may
// land on another server connection, so anything that kept session state across statements would
// break here. A sweep, a reprocess over HTTP and the webhook relay each run end to end through it.
// (The rest of the suite can run through PgBouncer too: TEST_DATABASE_VIA=pgbouncer, test/support/global-setup.ts.)
import { QueueEvents } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TaskStatus as S } from "../../src/rules/status.js";
import { RESTART_PROCESSING_PATH } from "../../src/api/restart-processing.js";
import { SWEEP_QUEUE } from "../../src/platform/queue-names.js";
import { createRedis, type RedisConnection } from "../../src/platform/redis.js";
import { createSweepQueue, enqueueSweep } from "../../src/sweep/sweep-queue.js";
import { createDb, prepared } from "../../src/platform/db/client.js";
import * as Prisma from "../../src/platform/db/sql.js";
import { directDatabaseUrl, eventsOf, getTask, insertTasks, resetTables, testDb } from "../support/db.js";
import { startPgBouncer, type PgBouncer } from "../support/pgbouncer.js";
import { testRedisUrl } from "../support/redis.js";
import { startWebhookReceiver, webhooksJson, type WebhookReceiver } from "../support/webhook-receiver.js";
import { ORG_7_TOKEN, startApp, type RunningApp } from "./http-app.js";

const H = 3600;
const SERVER_CONNECTIONS = 3;
const db = testDb(); // direct: the test's own fixtures and checks
let bouncer: PgBouncer;
let receiver: WebhookReceiver;
let app: RunningApp;
let redis: RedisConnection;

beforeAll(async () => {
  await resetTables(db);
  bouncer = await startPgBouncer(directDatabaseUrl(), { poolSize: SERVER_CONNECTIONS, roundRobin: true });
  receiver = await startWebhookReceiver([7]);
  app = await startApp({ DATABASE_URL: bouncer.url, WEBHOOKS_JSON: webhooksJson(receiver, [7]), OUTBOX_POLL_INTERVAL: "PT0.05S" }, { captureLogs: true });
  redis = createRedis(testRedisUrl());
}, 60_000);
afterAll(async () => {
  await app?.stop();
  await redis?.quit();
  await receiver?.close();
  await bouncer?.stop();
  await db.$disconnect();
});

describe(`a worker whose DATABASE_URL is PgBouncer in transaction mode (${SERVER_CONNECTIONS} server connections)`, () => {
  it("sweeps, reprocesses over HTTP, and relays every event as a signed webhook, end to end", async () => {
    const before = await bouncer.stats();
    const [stuck, quiet] = await insertTasks(db, [
      { status: S.ProcessingInProgress, ageSeconds: 5 * H, organizationId: 7 },
      { status: S.ToReview, ageSeconds: 60, organizationId: 7 },
    ]);

    // Sweep: a manual sweep job, answered by the worker's sweep worker.
    const queue = createSweepQueue(redis, app.prefix);
    const events = new QueueEvents(SWEEP_QUEUE, { connection: { url: testRedisUrl() }, prefix: app.prefix });
    try {
      await events.waitUntilReady();
      const job = await enqueueSweep(queue, {});
      const result = (await job.waitUntilFinished(events, 20_000)) as { reverted: number };
      expect(result.reverted).toBe(1);
    } finally {
      await events.close();
      await queue.close();
    }
    expect((await getTask(db, stuck!)).status).toBe(S.ProcessingFailed);

    // Reprocess: PATCH restartprocessing, applied by the reprocess worker.
    const response = await fetch(`${app.apiUrl}${RESTART_PROCESSING_PATH}?taskId=${quiet}`, { method: "PATCH", headers: { authorization: `Bearer ${ORG_7_TOKEN}` } });
    expect(response.status).toBe(202);
    await expect.poll(async () => (await getTask(db, quiet!)).restart_count, { timeout: 10_000, interval: 100 }).toBe(1);

    // Relay: both events reach organization 7's endpoint, signed, once each.
    await receiver.waitFor((r) => r.delivered.length >= 2, 40_000);
    const written = [...(await eventsOf(db, stuck!)), ...(await eventsOf(db, quiet!))].map((e) => e.kind).sort();
    expect(written).toEqual(["AUTO_REVERTED", "REPROCESSED"]);
    expect(receiver.delivered.map((d) => d.body.type).sort()).toEqual(["task.auto_reverted", "task.reprocessed"]);
    expect(receiver.delivered.every((d) => d.verified)).toBe(true);

    // All of it went through PgBouncer, over no more server connections than its pool.
    const after = await bouncer.stats();
    expect(after.transactions - before.transactions).toBeGreaterThan(10);
    expect(after.serverConnections).toBeLessThanOrEqual(SERVER_CONNECTIONS);
    // No session state left behind on the shared server connections: no advisory lock held by an idle one.
    const leaked = await db.$queryRaw<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND a.datname = current_database() AND a.state = 'idle'`;
    expect(leaked[0]!.n).toBe(0);
  }, 60_000);

  it("the prepared hot statements run through it as plain statements (DATABASE_URL ?pgbouncer=true), from many connections over few", async () => {
    // Named prepared statements live on one server connection; in transaction pooling the next
    // use lands on another (PgBouncer before 1.21 cannot carry them). The flag turns them plain.
    expect(new URL(bouncer.url).searchParams.get("pgbouncer")).toBe("true");
    const viaBouncer = createDb(bouncer.url, { max: 6 });
    try {
      const statement = () => prepared(Prisma.sql`SELECT ${1}::int + count(*)::int AS n FROM tasks WHERE id = ${-1}::int`);
      const answers = await Promise.all(Array.from({ length: 300 }, () => viaBouncer.$queryRaw<{ n: number }[]>(statement()).then((rows) => rows[0]!.n)));
      expect(new Set(answers)).toEqual(new Set([1]));
    } finally {
      await viaBouncer.$disconnect();
    }
  });

  it("a transaction's own statement timeout (a sweep batch's time cap) holds through it, and does not outlive the transaction", async () => {
    // PgBouncer drops the start-up options that carry the worker's timeouts; SET LOCAL travels inside the transaction.
    const viaBouncer = createDb(bouncer.url, { max: 3 });
    try {
      await expect(viaBouncer.$transaction((tx) => tx.$queryRaw`SELECT pg_sleep(2)`, { statementTimeoutMs: 100 })).rejects.toMatchObject({ code: "57014" });
      const inside = await viaBouncer.$transaction((tx) => tx.$queryRaw<{ v: string }[]>`SELECT current_setting('statement_timeout') AS v`, { statementTimeoutMs: 123 });
      expect(inside[0]!.v).toBe("123ms");
      // Afterwards, on whichever server connection each lands: never 123ms.
      const after = await Promise.all(Array.from({ length: 30 }, () => viaBouncer.$queryRaw<{ v: string }[]>`SELECT current_setting('statement_timeout') AS v`.then((rows) => rows[0]!.v)));
      expect(after).not.toContain("123ms");
    } finally {
      await viaBouncer.$disconnect();
    }
  });

  it("warns at start that its timeouts are off when PgBouncer dropped them and the database sets none (and only then)", async () => {
    // The timeouts the database itself gives a session that asks for none (TEST_DATABASE_VIA=pgbouncer sets them).
    const [own] = await db.$queryRawUnsafe<{ value: string }[]>(`SELECT setting AS value FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase, unnest(s.setconfig) setting WHERE d.datname = current_database() AND setting LIKE 'statement_timeout=%'`);
    // The check runs beside the start (a frozen database must not hold it up): long done by now, after the first test.
    const warned = app.logs().split("\n").some((line) => line.includes("PostgreSQL timeouts are off on the worker's connections"));
    expect(warned).toBe(own === undefined);
    // Connected directly, the start-up options hold: no warning.
    const direct = await startApp({}, { captureLogs: true });
    await direct.watchdog.db.$queryRaw`SELECT 1`; // after the check's own query on the same pool
    await direct.stop();
    expect(direct.logs()).toContain("watchdog started");
    expect(direct.logs()).not.toContain("PostgreSQL timeouts are off");
  });
});
