// Webhook endpoints kept in PostgreSQL (webhook-endpoints-admin.ts, sealed with WEBHOOK_SECRETS_KEY)
// are delivered to beside the environment's, and a change — a new endpoint, a rotation, a disabled
// endpoint — takes effect without a restart (WEBHOOK_ENDPOINTS_REFRESH). During a rotation every
// delivery carries one signature per valid secret.
import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import pg from "pg";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { startWatchdog, type Watchdog } from "../../src/app.js";
import { createEndpoint, disableEndpoint, rotateSecret } from "../../src/outbox/webhook-endpoints-admin.js";
import { createKeyring } from "../../src/outbox/webhook-secret-box.js";
import { outboxStats } from "../../src/outbox/sql/outbox-stats.js";
import { createLogger } from "../../src/platform/logger.js";
import { buildRules } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { testConfig } from "../support/config.js";
import { insertTasks, resetTables, testDatabaseUrl, testDb } from "../support/db.js";
import { deletePrefix, uniquePrefix } from "../support/redis.js";
import { newSecret, startWebhookReceiver, webhooksJson, type WebhookReceiver } from "../support/webhook-receiver.js";

const db = testDb();
const pool = new pg.Pool({ connectionString: testDatabaseUrl(), max: 2 });
const key = randomBytes(32);
const keyring = createKeyring([key]);
let prefix: string;
let receiver: WebhookReceiver;
let watchdog: Watchdog | undefined;

beforeEach(async () => {
  await resetTables(db);
  await pool.query("TRUNCATE webhook_secrets, webhook_endpoints CASCADE");
  prefix = uniquePrefix();
  receiver = await startWebhookReceiver([7, 8, 9]);
});
afterEach(async () => {
  await watchdog?.close();
  watchdog = undefined;
  // Active endpoints left behind would stop every later worker of this database at start (no WEBHOOK_SECRETS_KEY there).
  await pool.query("TRUNCATE webhook_secrets, webhook_endpoints CASCADE");
  await receiver.close();
  await deletePrefix(prefix);
});
afterAll(async () => {
  await pool.end();
  await db.$disconnect();
});

const revert = async (organizationId: number, n: number) => {
  await insertTasks(db, Array.from({ length: n }, () => ({ status: S.ProcessingInProgress, ageSeconds: 5 * 3600, organizationId })));
  const { runSweep } = await import("../../src/sweep/run-sweep.js");
  await runSweep(db, buildRules(), { sweepId: `s-${Math.random()}`, dryRun: false, batchSize: 1000 });
};

describe("endpoints kept in the database", () => {
  it("are delivered to beside the environment's; a new one, a rotation and a disable take effect without a restart", async () => {
    await createEndpoint(pool, keyring, { organizationId: 7, url: receiver.url(7), secret: receiver.secret(7), by: "test" });
    watchdog = await startWatchdog(
      testConfig(prefix, {
        WEBHOOKS_JSON: webhooksJson(receiver, [8]),
        WEBHOOK_SECRETS_KEY: key.toString("base64"),
        WEBHOOK_ENDPOINTS_REFRESH: "PT0.2S",
        OUTBOX_POLL_INTERVAL: "PT0.05S",
      }),
      buildRules(),
      createLogger({ level: "silent" }),
    );
    await revert(7, 3);
    await revert(8, 2);
    await receiver.waitFor((r) => r.ids.size >= 5);
    expect(receiver.delivered.every((d) => d.verified && d.signatures === 1)).toBe(true);

    // Created while running: its events from now on arrive.
    await createEndpoint(pool, keyring, { organizationId: 9, url: receiver.url(9), secret: receiver.secret(9), by: "test" });
    const ready = Date.now() + 10_000;
    while ((await pool.query(`SELECT 1 FROM outbox_cursors WHERE target = 'webhook:9'`)).rowCount === 0 && Date.now() < ready) await new Promise((r) => setTimeout(r, 25));
    await revert(9, 2);
    await receiver.waitFor((r) => r.delivered.filter((d) => d.organizationId === 9).length >= 2);

    // Rotated with an overlap: both secrets sign (once the refresh has read it), the receiver's (old) one still verifies.
    await rotateSecret(pool, keyring, { organizationId: 7, secret: newSecret(), overlapSeconds: 86_400 });
    for (const deadline = Date.now() + 10_000; !receiver.delivered.some((d) => d.organizationId === 7 && d.signatures === 2); ) {
      if (Date.now() > deadline) throw new Error("no delivery signed with both secrets");
      const seen = receiver.delivered.length;
      await revert(7, 1);
      await receiver.waitFor((r) => r.delivered.length > seen);
    }
    const rotated = receiver.delivered.filter((d) => d.organizationId === 7).at(-1)!;
    expect(rotated.signatures).toBe(2);
    expect(rotated.verified).toBe(true);
    const sentTo7 = receiver.delivered.filter((d) => d.organizationId === 7).length;

    // Disabled: once the refresh has dropped it (the endpoint gauge says so), its next events are not sent; the others still are.
    await disableEndpoint(pool, { organizationId: 7, by: "test" });
    const endpoints = async () => Number(/^watchdog_webhook_endpoints (\d+)$/m.exec(await (await fetch(`${watchdog!.opsUrl}/metrics`)).text())?.[1]);
    for (const deadline = Date.now() + 10_000; (await endpoints()) !== 2; ) {
      if (Date.now() > deadline) throw new Error("the disabled endpoint was never dropped");
      await new Promise((r) => setTimeout(r, 25));
    }
    await revert(7, 1);
    await revert(8, 1);
    await receiver.waitFor((r) => r.delivered.filter((d) => d.organizationId === 8).length >= 3);
    expect(receiver.delivered.filter((d) => d.organizationId === 7)).toHaveLength(sentTo7);
  });

  it("one organization's secret this worker cannot open holds up no other organization's change; it keeps its last readable endpoint, and the log names it and the key", async () => {
    await createEndpoint(pool, keyring, { organizationId: 7, url: receiver.url(7), secret: receiver.secret(7), by: "test" });
    await createEndpoint(pool, keyring, { organizationId: 8, url: receiver.url(8), secret: receiver.secret(8), by: "test" });
    let log = "";
    watchdog = await startWatchdog(
      testConfig(prefix, { WEBHOOK_SECRETS_KEY: key.toString("base64"), WEBHOOK_ENDPOINTS_REFRESH: "PT0.2S", OUTBOX_POLL_INTERVAL: "PT0.05S" }),
      buildRules(),
      createLogger({ level: "warn", destination: new Writable({ write: (c, _e, done) => ((log += String(c)), done()) }) }),
    );
    // Organization 8's secret rotated with a key this worker does not hold (a replica or CLI with a newer WEBHOOK_SECRETS_KEY).
    const newer = createKeyring([randomBytes(32)]);
    const rotated = newSecret();
    await rotateSecret(pool, newer, { organizationId: 8, secret: rotated, overlapSeconds: 86_400 });
    // Changes of other organizations after it: a disable and a new endpoint.
    await disableEndpoint(pool, { organizationId: 7, by: "test" });
    await createEndpoint(pool, keyring, { organizationId: 9, url: receiver.url(9), secret: receiver.secret(9), by: "test" });

    const ready = Date.now() + 10_000;
    while ((await pool.query(`SELECT 1 FROM outbox_cursors WHERE target = 'webhook:9'`)).rowCount === 0 && Date.now() < ready) await new Promise((r) => setTimeout(r, 25));
    await revert(7, 1);
    await revert(8, 1);
    await revert(9, 1);
    await receiver.waitFor((r) => r.ids.size >= 2, 10_000);
    await new Promise((r) => setTimeout(r, 300)); // more relay rounds: organization 7's event must not follow
    expect(receiver.delivered.map((d) => d.organizationId).sort()).toEqual([8, 9]);
    // Organization 8 is signed with the secret this worker can open: its receiver's (the first) one.
    expect(receiver.delivered.every((d) => d.verified && d.signatures === 1)).toBe(true);
    expect(log).toMatch(/organization 8 was sealed with key [0-9a-f]{8}, which WEBHOOK_SECRETS_KEY does not hold/);
    expect(log).not.toContain(rotated.slice(6));
  });

  it("a revoked endpoint owes nothing: its organization's later events neither hold the lag gauge nor the retention, and an endpoint created for it afterwards starts with the events from then on", async () => {
    await createEndpoint(pool, keyring, { organizationId: 7, url: receiver.url(7), secret: receiver.secret(7), by: "test" });
    watchdog = await startWatchdog(
      testConfig(prefix, { WEBHOOKS_JSON: webhooksJson(receiver, [8]), WEBHOOK_SECRETS_KEY: key.toString("base64"), WEBHOOK_ENDPOINTS_REFRESH: "PT0.2S", OUTBOX_POLL_INTERVAL: "PT0.05S" }),
      buildRules(),
      createLogger({ level: "silent" }),
    );
    await revert(7, 1);
    await receiver.waitFor((r) => r.delivered.length >= 1);
    const endpoints = async () => Number(/^watchdog_webhook_endpoints (\d+)$/m.exec(await (await fetch(`${watchdog!.opsUrl}/metrics`)).text())?.[1]);
    const waitEndpoints = async (n: number) => {
      for (const deadline = Date.now() + 10_000; (await endpoints()) !== n; ) {
        if (Date.now() > deadline) throw new Error(`never ${n} endpoints`);
        await new Promise((r) => setTimeout(r, 25));
      }
    };

    // Revoked: its events of the weeks that follow are nobody's to deliver.
    await disableEndpoint(pool, { organizationId: 7, by: "test" });
    await waitEndpoints(1);
    await revert(7, 3);
    await revert(8, 1);
    await receiver.waitFor((r) => r.delivered.some((d) => d.organizationId === 8));
    await new Promise((r) => setTimeout(r, 300)); // dispatch rounds: organization 7's events must mark nothing
    const owing = await pool.query<{ target: string }>(`SELECT target FROM outbox_cursors WHERE pending`);
    expect(owing.rows, "a revoked endpoint's organization is left pending: the lag gauge and the retention wait for it forever").toEqual([]);

    // A new endpoint for it: the events of the revoked weeks are not sent there, only those from its creation on.
    await createEndpoint(pool, keyring, { organizationId: 7, url: receiver.url(7), secret: receiver.secret(7), by: "test" });
    await waitEndpoints(2);
    await revert(7, 1);
    await receiver.waitFor((r) => r.delivered.filter((d) => d.organizationId === 7).length >= 2);
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.delivered.filter((d) => d.organizationId === 7)).toHaveLength(2);
  });

  it("once the last endpoint is revoked, dispatch keeps passing the new events: the lag gauge does not grow and the retention is not held", async () => {
    await createEndpoint(pool, keyring, { organizationId: 7, url: receiver.url(7), secret: receiver.secret(7), by: "test" });
    watchdog = await startWatchdog(
      testConfig(prefix, { WEBHOOK_SECRETS_KEY: key.toString("base64"), WEBHOOK_ENDPOINTS_REFRESH: "PT0.2S", OUTBOX_POLL_INTERVAL: "PT0.05S" }),
      buildRules(),
      createLogger({ level: "silent" }),
    );
    await revert(7, 1);
    await receiver.waitFor((r) => r.delivered.length >= 1);
    const metrics = async () => (await (await fetch(`${watchdog!.opsUrl}/metrics`)).text());
    await disableEndpoint(pool, { organizationId: 7, by: "test" });
    for (const deadline = Date.now() + 10_000; !/^watchdog_webhook_endpoints 0$/m.test(await metrics()); ) {
      if (Date.now() > deadline) throw new Error("the revoked endpoint was never dropped");
      await new Promise((r) => setTimeout(r, 25));
    }
    await revert(8, 2);
    // What the lag gauge and the retention read: the events past dispatch's position.
    const behind = async () => (await outboxStats(pool, 1000, ["dispatch"])).targets.find((t) => t.target === "dispatch")?.pending;
    await expect.poll(behind, { timeout: 5_000, message: "dispatch stopped with the last endpoint: its position stays behind every new event" }).toBe(0);
  }, 30_000);

  it("an organization's endpoint moved from WEBHOOKS_JSON to the database keeps its position: the events waiting for it still arrive", async () => {
    receiver.mode = "down";
    watchdog = await startWatchdog(
      testConfig(prefix, { WEBHOOKS_JSON: webhooksJson(receiver, [7]), WEBHOOK_SECRETS_KEY: key.toString("base64"), WEBHOOK_ENDPOINTS_REFRESH: "PT0.2S", OUTBOX_POLL_INTERVAL: "PT0.05S", WEBHOOK_RETRY_DELAY: "PT0.05S", WEBHOOK_RETRY_MAX_DELAY: "PT0.1S" }),
      buildRules(),
      createLogger({ level: "silent" }),
    );
    await revert(7, 2);
    await receiver.waitFor((r) => r.attempts >= 1);
    await createEndpoint(pool, keyring, { organizationId: 7, url: receiver.url(7), secret: receiver.secret(7), by: "test" });
    receiver.mode = "ok";
    await receiver.waitFor((r) => r.ids.size >= 2);
  });
});
