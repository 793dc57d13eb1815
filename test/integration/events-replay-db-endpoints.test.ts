// Webhook replay to endpoints kept in the database (`watchdog webhooks create`, sealed with
// WEBHOOK_SECRETS_KEY) with nothing in WEBHOOKS_FILE / WEBHOOKS_JSON: the replay is checked against,
// queued for and sent with the same endpoint directory as the live delivery, so an organization
// whose endpoint is in the database has its events replayed, signed with that endpoint's secret —
// from the CLI, and from the ops endpoint right after the endpoint was created (before the worker's
// next refresh has read it). An organization with no endpoint anywhere is refused, naming both places.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { startWatchdog, type Watchdog } from "../../src/app.js";
import { createEndpoint, rotateSecret } from "../../src/outbox/webhook-endpoints-admin.js";
import { createKeyring } from "../../src/outbox/webhook-secret-box.js";
import { createLogger } from "../../src/platform/logger.js";
import { buildRules } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { testConfig } from "../support/config.js";
import { directDatabaseUrl, insertTasks, resetTables, testDatabaseUrl, testDb } from "../support/db.js";
import { deletePrefix, testRedisUrl, uniquePrefix } from "../support/redis.js";
import { newSecret, startWebhookReceiver, type WebhookReceiver } from "../support/webhook-receiver.js";
import { runCli } from "../support/worker-process.js";
import { basic, BOARD_PASSWORD, BOARD_USER, startApp, type RunningApp } from "./http-app.js";

const db = testDb();
const pool = new pg.Pool({ connectionString: directDatabaseUrl(), max: 2 });
const key = randomBytes(32);
const keyring = createKeyring([key]);
let prefix: string;
let receiver: WebhookReceiver;
let watchdog: Watchdog | undefined;
let app: RunningApp | undefined;

beforeEach(async () => {
  await resetTables(db);
  await pool.query(`TRUNCATE webhook_secrets, webhook_endpoints RESTART IDENTITY CASCADE`);
  prefix = uniquePrefix();
  receiver = await startWebhookReceiver([7, 8]);
});
afterEach(async () => {
  await watchdog?.close();
  watchdog = undefined;
  await app?.stop();
  app = undefined;
  await receiver.close();
  // Active endpoints left behind would stop every later worker of this database at start (no WEBHOOK_SECRETS_KEY there).
  await pool.query(`TRUNCATE webhook_secrets, webhook_endpoints RESTART IDENTITY CASCADE`);
  await deletePrefix(prefix);
});
afterAll(async () => {
  await pool.end();
  await db.$disconnect();
});

// No WEBHOOKS_JSON: the database is the only place an endpoint can come from.
const env = () => ({ WEBHOOK_SECRETS_KEY: key.toString("base64"), OUTBOX_POLL_INTERVAL: "PT0.05S", WEBHOOK_RETRY_DELAY: "PT0.05S", WEBHOOK_RETRY_MAX_DELAY: "PT0.1S" });
const endpointFor = (organizationId: number) => createEndpoint(pool, keyring, { organizationId, url: receiver.url(organizationId), secret: receiver.secret(organizationId), by: "test" });
const deliveredReplays = async () => (await db.$queryRaw<{ n: number }[]>`SELECT count(delivered_at)::int AS n FROM webhook_replays`)[0]!.n;

/** An event of the organization, written before the worker starts (its relay's cursor then starts after it): only a replay sends it. */
async function pastEvent(organizationId: number): Promise<string> {
  const [task] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 0, organizationId }]);
  const [event] = await db.$queryRaw<{ id: string }[]>`
    INSERT INTO task_events (task_id, kind, from_status, to_status, reason, actor, created_at)
    VALUES (${task}, 'REPROCESSED', 42, 30, 'again', 'test', now() - interval '1 day') RETURNING id::text`;
  return `evt_${event!.id}`;
}

describe("webhook replay to endpoints kept in the database", () => {
  it("`watchdog events replay --given-up` sends an organization's given-up event to its database endpoint, signed with that endpoint's secret", async () => {
    await endpointFor(7);
    const id = await pastEvent(7);
    await db.$executeRaw`INSERT INTO webhook_given_up (event_id, organization_id, attempts, last_error) VALUES (${id.slice(4)}::bigint, 7, 12, 'answered 503')`;
    watchdog = await startWatchdog(testConfig(prefix, env()), buildRules(), createLogger({ level: "silent" }));

    const run = runCli(["events", "replay", "--given-up", "--by", "alice", "--reason", "receiver fixed"], { DATABASE_URL: testDatabaseUrl(), REDIS_URL: testRedisUrl(), QUEUE_PREFIX: prefix, LOG_LEVEL: "silent", ...env() });
    const exit = await run.exited;
    expect({ code: exit.code, stderr: run.stderr() }).toEqual({ code: 0, stderr: "" });
    expect(run.lines()[0]).toMatchObject({ events: 1, alreadyPending: 0, organizationIds: [7] });
    await receiver.waitFor((r) => r.delivered.length >= 1);
    await expect.poll(deliveredReplays, { timeout: 10_000 }).toBe(1);
    expect(receiver.delivered.map((d) => [d.webhookId, d.organizationId, d.signatures])).toEqual([[id, 7, 1]]);
    // The receiver verifies with organization 7's secret, which only the database holds (sealed).
    expect(receiver.delivered[0]!.verified).toBe(true);
  }, 60_000); // a CLI child process (tsx start-up) on a shared machine

  it("the ops endpoint replays to an endpoint created while the worker runs; an organization without an endpoint is refused, naming both places", async () => {
    const id7 = await pastEvent(7);
    const id8 = await pastEvent(8);
    app = await startApp({ ...env(), CONSOLE_ACTIONS_ENABLED: "true", WEBHOOK_ENDPOINTS_REFRESH: "PT0.5S" });
    const replay = (event: string) =>
      fetch(`${app!.opsUrl}/admin/events/replay`, {
        method: "POST",
        headers: { authorization: basic(BOARD_USER, BOARD_PASSWORD), "content-type": "application/json" },
        body: JSON.stringify({ event: [event], by: "erin", reason: "new endpoint: fill in its past" }),
      });

    const refused = await replay(id8);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toEqual({ error: "BadRequest: organization 8 has no webhook endpoint (WEBHOOKS_FILE / WEBHOOKS_JSON, or `watchdog webhooks create` with WEBHOOK_SECRETS_KEY): its events cannot be sent" });

    // Asked for at once: the worker's directory reads the new endpoint at its next refresh, and the replay waits for it.
    await endpointFor(7);
    const accepted = await replay(id7);
    expect(accepted.status).toBe(202);
    expect(await accepted.json()).toMatchObject({ events: 1, alreadyPending: 0, organizationIds: [7] });
    await receiver.waitFor((r) => r.delivered.length >= 1);
    await expect.poll(deliveredReplays, { timeout: 10_000 }).toBe(1);
    expect(receiver.delivered.map((d) => [d.webhookId, d.organizationId, d.verified])).toEqual([[id7, 7, true]]);
    expect((await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM webhook_replays WHERE abandoned_at IS NOT NULL`)[0]!.n).toBe(0);
  });

  it("a replay request is checked without opening any secret: another organization's secret sealed with a key this worker lacks refuses nobody", async () => {
    await endpointFor(7);
    await endpointFor(8);
    const id7 = await pastEvent(7);
    app = await startApp({ ...env(), CONSOLE_ACTIONS_ENABLED: "true" });
    // Organization 8's secret rotated by a CLI holding a newer WEBHOOK_SECRETS_KEY than this worker.
    await rotateSecret(pool, createKeyring([randomBytes(32)]), { organizationId: 8, secret: newSecret(), overlapSeconds: 86_400 });
    const accepted = await fetch(`${app.opsUrl}/admin/events/replay`, {
      method: "POST",
      headers: { authorization: basic(BOARD_USER, BOARD_PASSWORD), "content-type": "application/json" },
      body: JSON.stringify({ event: [id7], by: "erin", reason: "receiver fixed" }),
    });
    expect(accepted.status).toBe(202);
    await receiver.waitFor((r) => r.delivered.length >= 1);
    expect(receiver.delivered.map((d) => [d.webhookId, d.organizationId, d.verified])).toEqual([[id7, 7, true]]);
  });
});
