// The operator console's Outbox section with endpoints kept in the database only (`watchdog webhooks
// create`, WEBHOOK_SECRETS_KEY, nothing in WEBHOOKS_FILE / WEBHOOKS_JSON): it reads the organizations
// with an endpoint from the same directory as delivery and replay, so it shows the dispatch and the
// database organization's delivery state, not "no webhook is configured". The start-up line names
// the organizations with an endpoint by where it comes from.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { createEndpoint } from "../../src/outbox/webhook-endpoints-admin.js";
import { createKeyring } from "../../src/outbox/webhook-secret-box.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { directDatabaseUrl, insertTasks, resetTables, testDb } from "../support/db.js";
import { startWebhookReceiver, type WebhookReceiver } from "../support/webhook-receiver.js";
import { basic, BOARD_PASSWORD, BOARD_USER, startApp, type RunningApp } from "./http-app.js";

const db = testDb();
const pool = new pg.Pool({ connectionString: directDatabaseUrl(), max: 2 });
const key = randomBytes(32);
const keyring = createKeyring([key]);
let receiver: WebhookReceiver;
let app: RunningApp | undefined;

beforeEach(async () => {
  await resetTables(db);
  await pool.query(`TRUNCATE webhook_secrets, webhook_endpoints RESTART IDENTITY CASCADE`);
  receiver = await startWebhookReceiver([7]);
});
afterEach(async () => {
  await app?.stop();
  app = undefined;
  await receiver.close();
  // Active endpoints left behind would stop every later worker of this database at start (no WEBHOOK_SECRETS_KEY there).
  await pool.query(`TRUNCATE webhook_secrets, webhook_endpoints RESTART IDENTITY CASCADE`);
});
afterAll(async () => {
  await pool.end();
  await db.$disconnect();
});

const outboxSection = async (a: RunningApp) => {
  const response = await fetch(`${a.opsUrl}/admin/console`, { headers: { authorization: basic(BOARD_USER, BOARD_PASSWORD) } });
  expect(response.status).toBe(200);
  return /<section id="outbox"[\s\S]*?<\/section>/.exec(await response.text())?.[0] ?? "";
};

describe("operator console with database endpoints only", () => {
  it("the Outbox section shows the database organization's delivery state, not 'no webhook is configured'", async () => {
    await createEndpoint(pool, keyring, { organizationId: 7, url: receiver.url(7), secret: receiver.secret(7), by: "test" });
    app = await startApp({ WEBHOOK_SECRETS_KEY: key.toString("base64"), OUTBOX_POLL_INTERVAL: "PT0.05S" });
    const [task] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 0, organizationId: 7 }]);
    await db.$executeRaw`INSERT INTO task_events (task_id, kind, from_status, to_status, reason, actor) VALUES (${task}, 'REPROCESSED', 42, 30, 'again', 'test')`;
    await receiver.waitFor((r) => r.delivered.length >= 1);

    await expect.poll(async () => /organization 7/.test(await outboxSection(app!)), { timeout: 10_000 }).toBe(true);
    const section = await outboxSection(app);
    expect(section).not.toContain("No relay target");
    expect(section).toContain("dispatch (to the organizations)");
  });

  it("with 120 organizations, lists the failing first and at most 50, says how many there are, and names the failing once in what needs attention", async () => {
    // 117 with nothing to deliver; 3 whose endpoint refuses connections (nothing listens on port 9), with an event each.
    for (let org = 1; org <= 120; org++) {
      const url = org > 117 ? `http://127.0.0.1:9/hooks/${org}` : receiver.url(7);
      await createEndpoint(pool, keyring, { organizationId: org, url, secret: receiver.secret(7), by: "test" });
    }
    app = await startApp({ WEBHOOK_SECRETS_KEY: key.toString("base64"), OUTBOX_POLL_INTERVAL: "PT0.05S" });
    const tasks = await insertTasks(db, [118, 119, 120].map((organizationId) => ({ status: S.ToReview, ageSeconds: 0, organizationId })));
    for (const task of tasks) await db.$executeRaw`INSERT INTO task_events (task_id, kind, from_status, to_status, reason, actor) VALUES (${task}, 'REPROCESSED', 42, 30, 'again', 'test')`;
    await expect.poll(async () => (await outboxSection(app!)).match(/failing since/g)?.length ?? 0, { timeout: 15_000 }).toBe(3);

    const response = await fetch(`${app.opsUrl}/admin/console`, { headers: { authorization: basic(BOARD_USER, BOARD_PASSWORD) } });
    const page = await response.text();
    const section = /<section id="outbox"[\s\S]*?<\/section>/.exec(page)![0];
    const listed = [...section.matchAll(/<td data-label="Target">organization (\d+)<\/td>/g)].map((m) => Number(m[1]));
    expect(listed).toHaveLength(50);
    expect(listed.slice(0, 3).sort()).toEqual([118, 119, 120]);
    expect(section).toContain("50 of 120 organizations with an endpoint listed (3 failing, 3 with undelivered events)");
    expect(page.match(/deliveries failing/g)).toEqual(["deliveries failing"]);
    expect(page).toContain("3 organizations</a>: deliveries failing");
  });

  it("the `watchdog started` line names the organizations with an endpoint by source", async () => {
    await createEndpoint(pool, keyring, { organizationId: 7, url: receiver.url(7), secret: receiver.secret(7), by: "test" });
    app = await startApp({ WEBHOOK_SECRETS_KEY: key.toString("base64") }, { captureLogs: true });
    const started = app.logs().split("\n").filter((l) => l.includes('"watchdog started"')).map((l) => JSON.parse(l) as { events: unknown });
    expect(started.map((l) => l.events)).toEqual([{ queue: false, webhookOrganizations: { environment: [], database: [7] } }]);
  });
});
