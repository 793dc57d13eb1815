// Webhook endpoints kept in the database are delivered to like those of WEBHOOKS_JSON: a worker
// reads them at start (one read), signs each event with every valid secret (two during a
// rotation: a receiver holding only the old secret still verifies), and refuses to start when it
// cannot open them or when an organization has an endpoint in both places.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { startWatchdog, type Watchdog } from "../../src/app.js";
import { createEndpoint, rotateSecret } from "../../src/outbox/webhook-endpoints-admin.js";
import { createKeyring, generateWebhookSecret } from "../../src/outbox/webhook-secret-box.js";
import { createLogger } from "../../src/platform/logger.js";
import { buildRules } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { runSweep } from "../../src/sweep/run-sweep.js";
import { testConfig } from "../support/config.js";
import { directDatabaseUrl, insertTasks, resetTables, testDb } from "../support/db.js";
import { deletePrefix, uniquePrefix } from "../support/redis.js";
import { startWebhookReceiver, webhooksJson, type WebhookReceiver } from "../support/webhook-receiver.js";

const rules = buildRules();
const db = testDb();
const pool = new pg.Pool({ connectionString: directDatabaseUrl(), max: 2 });
const key = randomBytes(32);
const keyring = createKeyring([key]);
let prefix: string;
let receiver: WebhookReceiver;
const watchdogs: Watchdog[] = [];

beforeEach(async () => {
  await resetTables(db);
  await pool.query(`TRUNCATE webhook_secrets, webhook_endpoints RESTART IDENTITY CASCADE`);
  prefix = uniquePrefix();
  receiver = await startWebhookReceiver([7, 8]);
});
afterEach(async () => {
  await Promise.all(watchdogs.splice(0).map((w) => w.close()));
  await receiver.close();
  await pool.query(`TRUNCATE webhook_secrets, webhook_endpoints RESTART IDENTITY CASCADE`);
  await deletePrefix(prefix);
});
afterAll(async () => {
  await pool.end();
  await db.$disconnect();
});

const start = async (env: Record<string, string> = {}) => {
  const w = await startWatchdog(testConfig(prefix, { OUTBOX_POLL_INTERVAL: "PT0.05S", WEBHOOK_SECRETS_KEY: key.toString("base64"), ...env }), rules, createLogger({ level: "silent" }));
  watchdogs.push(w);
  return w;
};

describe("webhook endpoints kept in the database", () => {
  it("during a rotation every event carries both signatures: a receiver still holding the old secret verifies it", async () => {
    // The receiver knows organization 7's first secret only; the rotation adds one it does not know.
    await createEndpoint(pool, keyring, { organizationId: 7, url: receiver.url(7), secret: receiver.secret(7), by: "test" });
    await rotateSecret(pool, keyring, { organizationId: 7, secret: generateWebhookSecret(), overlapSeconds: 3600 });
    await start();
    await insertTasks(db, [{ status: S.ProcessingInProgress, ageSeconds: 5 * 3600, organizationId: 7 }]);
    await runSweep(db, rules, { sweepId: "s1", dryRun: false, batchSize: 1000 });
    await receiver.waitFor((r) => r.delivered.length >= 1);
    expect(receiver.delivered.map((d) => [d.organizationId, d.body.type, d.verified])).toEqual([[7, "task.auto_reverted", true]]);
  });

  it("once the old secret has expired, only the new one signs: the receiver with the old secret no longer verifies", async () => {
    await createEndpoint(pool, keyring, { organizationId: 7, url: receiver.url(7), secret: receiver.secret(7), by: "test" });
    await rotateSecret(pool, keyring, { organizationId: 7, secret: generateWebhookSecret(), overlapSeconds: 0 });
    await start();
    await insertTasks(db, [{ status: S.ProcessingInProgress, ageSeconds: 5 * 3600, organizationId: 7 }]);
    await runSweep(db, rules, { sweepId: "s2", dryRun: false, batchSize: 1000 });
    await receiver.waitFor((r) => r.delivered.length >= 1);
    expect(receiver.delivered[0]!.verified).toBe(false);
  });

  it("refuses to start when the database holds endpoints and WEBHOOK_SECRETS_KEY is not set, or an organization is in both places", async () => {
    await createEndpoint(pool, keyring, { organizationId: 7, url: receiver.url(7), secret: receiver.secret(7), by: "test" });
    await expect(start({ WEBHOOK_SECRETS_KEY: "" })).rejects.toThrow(/WEBHOOK_SECRETS_KEY is not set, and the database holds 1 active webhook endpoint/);
    await expect(start({ WEBHOOKS_JSON: webhooksJson(receiver, [7, 8]) })).rejects.toThrow(/organization\(s\) 7 have an endpoint both in WEBHOOKS_FILE\/WEBHOOKS_JSON and in the database/);
  });
});
