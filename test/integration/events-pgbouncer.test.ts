// The outbox behind a real PgBouncer in transaction pooling with round-robin server connections
// (every statement may land on another backend): two replicas share 1,000 events of five
// organizations through three server connections. Leases are rows, not session locks, so each
// event arrives, none twice at the same time, and no advisory lock is ever held while they work.
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, expect, it } from "vitest";
import { runOutbox, type OutboxSettings } from "../../src/outbox/outbox.js";
import { directDatabaseUrl, insertTasks, resetTables, testDb } from "../support/db.js";
import { startPgBouncer, type PgBouncer } from "../support/pgbouncer.js";
import { startWebhookReceiver, type WebhookReceiver } from "../support/webhook-receiver.js";
import { TaskStatus as S } from "../../src/rules/status.js";

const ORGS = [7, 8, 9, 10, 11];
const db = testDb(); // direct: fixtures and checks
let bouncer: PgBouncer;
let receiver: WebhookReceiver;

beforeAll(async () => {
  await resetTables(db);
  bouncer = await startPgBouncer(directDatabaseUrl(), { poolSize: 3, roundRobin: true });
  receiver = await startWebhookReceiver(ORGS);
}, 30_000);
afterAll(async () => {
  await receiver?.close();
  await bouncer?.stop();
  await db.$disconnect();
});

const settings = (databaseUrl: string): OutboxSettings => ({
  databaseUrl,
  databaseStatementTimeoutMs: 30_000,
  databaseConnectTimeoutMs: 10_000,
  outboxPollIntervalMs: 50,
  outboxBatchSize: 100,
  outboxLeaseMs: 5000,
  webhookEndpointsRefreshMs: 30_000,
  eventsQueueMaxWaiting: 1000,
  eventsRetentionMs: 90 * 86_400_000,
  webhookTimeoutMs: 5000,
  webhookRetryDelayMs: 100,
  webhookRetryMaxDelayMs: 200,
  webhookRetryForMs: 86_400_000,
  webhookConcurrency: 3,
  webhookEndpointConcurrency: 4,
  webhookOrganizationTurnMs: 10_000,
});

it("two replicas through PgBouncer (transaction mode, round robin) deliver 1,000 events, each once at a time, holding no advisory lock", async () => {
  const endpoints = ORGS.map((organizationId) => ({ organizationId, url: receiver.url(organizationId), secret: receiver.secret(organizationId) }));
  const start = () => runOutbox({ settings: settings(bouncer.url), logger: pino({ level: "silent" }), registry: new Registry(), eventsQueue: null, endpoints });
  const replicas = [await start(), await start()];
  try {
    const tasks = await insertTasks(db, Array.from({ length: 100 }, (_, i) => ({ status: S.ToReview, ageSeconds: 0, organizationId: ORGS[i % ORGS.length] })));
    // Ten transactions of 100 events each.
    for (let t = 0; t < 10; t++) {
      await db.$executeRaw`INSERT INTO task_events (task_id, kind, from_status, to_status, reason, actor)
        SELECT id, 'REPROCESSED', 50, 30, 'batch ' || ${t}::int, 'test' FROM unnest(${tasks}::int[]) AS id`;
    }
    let advisory = 0;
    const sample = setInterval(() => {
      void db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`.then((r) => (advisory = Math.max(advisory, r[0]!.n)));
    }, 20);
    try {
      await receiver.waitFor((r) => r.ids.size >= 1000, 60_000);
    } finally {
      clearInterval(sample);
    }
    expect(receiver.ids.size).toBe(1000);
    expect(receiver.maxConcurrentPerId).toBe(1);
    expect(receiver.delivered.every((d) => d.verified)).toBe(true);
    expect(advisory).toBe(0);
    const stats = await bouncer.stats();
    expect(stats.serverConnections).toBeLessThanOrEqual(3);
  } finally {
    await Promise.all(replicas.map((r) => r.close()));
  }
}, 90_000);
