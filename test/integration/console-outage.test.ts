// The operator console's actions and the ops replay endpoint while a dependency fails under them:
// - Redis unreachable or frozen (a TCP proxy in front of it, for this app only) when a release or a
//   replay is queued: the operator gets a 503 naming Redis within seconds, and when Redis is back
//   nothing they were told had failed runs after all (no released sweep, no replay sent);
// - PostgreSQL refusing the audit record's insert (operator_actions locked by another session past
//   the statement timeout) during a pause, a resume or a release: the action and its audit record go
//   together, or neither does — never an unaudited action behind a 503 that says "nothing was done".
import { Queue } from "bullmq";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { TaskStatus as S } from "../../src/rules/status.js";
import { SWEEP_QUEUE, WEBHOOK_REPLAYS_QUEUE } from "../../src/platform/queue-names.js";
import { holdTransaction, insertTasks, resetTables, testDatabaseUrl, testDb } from "../support/db.js";
import { testRedisUrl } from "../support/redis.js";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.js";
import { startWebhookReceiver, webhooksJson, type WebhookReceiver } from "../support/webhook-receiver.js";
import { basic, BOARD_PASSWORD, BOARD_USER, startApp, type RunningApp } from "./http-app.js";

const db = testDb();
const AUTH = basic(BOARD_USER, BOARD_PASSWORD);
let receiver: WebhookReceiver;

afterAll(() => db.$disconnect());

async function openConsole(a: RunningApp) {
  const response = await fetch(`${a.opsUrl}/admin/console`, { headers: { authorization: AUTH } });
  expect(response.status).toBe(200);
  const cookie = /^(watchdog_console_csrf=[^;]+)/.exec(response.headers.get("set-cookie") ?? "")?.[1];
  const token = /name="csrf" value="([^"]+)"/.exec(await response.text())?.[1];
  return { cookie: cookie!, token: token! };
}

const post = (a: RunningApp, path: string, session: { cookie: string; token: string }, fields: Record<string, string>) =>
  fetch(`${a.opsUrl}${path}`, {
    method: "POST",
    redirect: "manual",
    headers: { authorization: AUTH, "content-type": "application/x-www-form-urlencoded", origin: a.opsUrl, cookie: session.cookie },
    body: new URLSearchParams({ ...fields, csrf: session.token }).toString(),
  });

const replayGivenUp = (a: RunningApp, by: string) =>
  fetch(`${a.opsUrl}/admin/events/replay`, {
    method: "POST",
    headers: { authorization: AUTH, "content-type": "application/json" },
    body: JSON.stringify({ givenUp: true, by, reason: "receiver fixed" }),
  });

/**
 * A command already written when Redis stopped answering cannot be called back: the product drops
 * its connection, and the proxy then discards what it held for it. Restoring sooner would race that
 * close (proxy and app share this process's event loop); a Redis frozen with SIGSTOP would still
 * read a command that reached its socket buffer (docs/reliability.md).
 */
const DROPPED_WITHIN_MS = 1000;

const actions = () => db.$queryRaw<{ id: string; action: string; actor: string }[]>`SELECT id::text, action, actor FROM operator_actions ORDER BY id`;

describe("Redis away while the console queues work", () => {
  let proxy: TcpProxy;
  let app: RunningApp;
  let eventId: string;

  beforeAll(async () => {
    const target = new URL(testRedisUrl());
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 6379) });
  });
  afterAll(() => proxy.close());
  beforeEach(async () => {
    proxy.restore();
    await resetTables(db);
    receiver = await startWebhookReceiver([7]);
    const [task] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 0, organizationId: 7 }]);
    // Written before the worker starts (its relay's cursor then starts after it): only a replay sends it.
    [{ id: eventId }] = (await db.$queryRaw<{ id: string }[]>`INSERT INTO task_events (task_id, kind, from_status, to_status, reason, actor, created_at) VALUES (${task}, 'REPROCESSED', 42, 30, 'again', 'test', now() - interval '1 day') RETURNING id::text`) as [{ id: string }];
    await db.$executeRaw`INSERT INTO webhook_given_up (event_id, organization_id, attempts, last_error) VALUES (${eventId}::bigint, 7, 12, 'answered 503')`;
    app = await startApp({ REDIS_URL: proxy.url(testRedisUrl()), CONSOLE_ACTIONS_ENABLED: "true", WEBHOOKS_JSON: webhooksJson(receiver, [7]), OUTBOX_POLL_INTERVAL: "PT0.05S" });
  });
  afterEach(async () => {
    proxy.restore();
    await app.stop();
    await receiver.close();
  });

  describe.each([
    ["unreachable (every connection reset)", () => proxy.cut()],
    ["frozen (connections open, nothing answered)", () => proxy.freeze()],
  ])("when Redis is %s", (_case, outage) => {
    it("a release answers 503 naming Redis within 4 s, and no released sweep runs when Redis is back", async () => {
      const session = await openConsole(app);
      outage();
      const started = Date.now();
      const refused = await post(app, "/admin/console/release", session, { rule: "ProcessingInProgress", reason: "checked", by: "carol" });
      expect(Date.now() - started).toBeLessThan(4000);
      expect(refused.status).toBe(503);
      expect(refused.headers.get("retry-after")).toBe("5");
      expect(await refused.text()).toMatch(/Redis/);
      // The refused command's connection was dropped at once; it is closed (both ends) well within this.
      await new Promise((resolve) => setTimeout(resolve, DROPPED_WITHIN_MS));
      proxy.restore();
      // The console's path to Redis works again: a second release goes all the way through.
      await expect.poll(async () => (await post(app, "/admin/console/release", session, { rule: "ProcessingInProgress", reason: "checked again", by: "dave" })).status, { timeout: 15_000, interval: 200 }).toBe(303);
      const queue = new Queue(SWEEP_QUEUE, { connection: { url: testRedisUrl() }, prefix: app.prefix });
      try {
        const released = (await queue.getJobs(["waiting", "active", "completed", "failed", "delayed"])).map((j) => j.data.releasedBy).sort();
        expect(released).toEqual(["dave"]);
      } finally {
        await queue.close();
      }
      expect((await actions()).map((a) => `${a.action} ${a.actor}`)).toEqual(["release dave"]);
    }, 60_000);

    it("a replay answers 503 naming Redis within 4 s, and nothing of it is sent when Redis is back", async () => {
      outage();
      const started = Date.now();
      const refused = await replayGivenUp(app, "erin");
      expect(Date.now() - started).toBeLessThan(4000);
      expect(refused.status).toBe(503);
      expect(refused.headers.get("retry-after")).toBe("5");
      expect(((await refused.json()) as { error: string }).error).toMatch(/Redis/);
      // The refused command's connection was dropped at once; it is closed (both ends) well within this.
      await new Promise((resolve) => setTimeout(resolve, DROPPED_WITHIN_MS));
      proxy.restore();
      // Asked again once Redis is back (each refusal meanwhile is one more replay not queued): this one is queued and sends the event, once.
      let accepted: Response | undefined;
      await expect.poll(async () => (accepted = await replayGivenUp(app, "frank")).status, { timeout: 15_000, interval: 200 }).toBe(202);
      const { jobId, replayId } = (await accepted!.json()) as { jobId: string; replayId: string };
      const refusedIds = (await actions()).map((a) => a.id).filter((id) => id !== replayId);
      expect(refusedIds.length).toBeGreaterThanOrEqual(1);
      const queue = new Queue(WEBHOOK_REPLAYS_QUEUE, { connection: { url: testRedisUrl() }, prefix: app.prefix });
      try {
        await expect.poll(async () => (await queue.getJob(jobId))?.finishedOn, { timeout: 10_000 }).toBeGreaterThan(0);
        // The refused replays' jobs never came to exist.
        for (const id of refusedIds) expect(await queue.getJob(`replay-${id}`), `replay-${id}`).toBeUndefined();
      } finally {
        await queue.close();
      }
      expect(receiver.delivered.map((d) => d.webhookId)).toEqual([`evt_${eventId}`]);
      const rows = await db.$queryRaw<{ replay_id: string; delivered: boolean; abandoned: boolean }[]>`SELECT replay_id::text, delivered_at IS NOT NULL AS delivered, abandoned_at IS NOT NULL AS abandoned FROM webhook_replays ORDER BY replay_id`;
      expect(rows).toEqual([...refusedIds.map((id) => ({ replay_id: id, delivered: false, abandoned: true })), { replay_id: replayId, delivered: true, abandoned: false }]);
    }, 60_000);
  });
});

describe("PostgreSQL refusing the audit record", () => {
  let app: RunningApp;
  beforeEach(async () => {
    await resetTables(db);
    app = await startApp({ CONSOLE_ACTIONS_ENABLED: "true", DATABASE_STATEMENT_TIMEOUT: "PT1S" });
  });
  afterEach(() => app.stop());

  const openPauses = () => db.$queryRaw<{ paused_by: string }[]>`SELECT paused_by FROM sweep_pauses WHERE ended_at IS NULL`;

  it("a pause and a resume whose audit insert fails are not done at all (503); done again, each is audited once", async () => {
    const session = await openConsole(app);
    // Another session holds operator_actions against inserts (reads go on) past the statement timeout.
    const lock = await holdTransaction("LOCK TABLE operator_actions IN EXCLUSIVE MODE");
    try {
      const paused = await post(app, "/admin/console/pause", session, { rule: "ProcessingInProgress", reason: "vendor outage", by: "alice" });
      expect(paused.status).toBe(503);
      expect(await openPauses()).toEqual([]); // "nothing was done": no pause without its audit record
    } finally {
      await lock.release();
    }
    expect((await post(app, "/admin/console/pause", session, { rule: "ProcessingInProgress", reason: "vendor outage", by: "alice" })).status).toBe(303);
    expect(await openPauses()).toEqual([{ paused_by: "alice" }]);

    const again = await holdTransaction("LOCK TABLE operator_actions IN EXCLUSIVE MODE");
    try {
      const resumed = await post(app, "/admin/console/resume", session, { rule: "ProcessingInProgress", reason: "vendor back", by: "bob" });
      expect(resumed.status).toBe(503);
      expect(await openPauses()).toEqual([{ paused_by: "alice" }]); // still paused: the resume was not done
    } finally {
      await again.release();
    }
    // Retried, the resume finds the pause and is audited (before: 404 "nothing is paused", no record of who resumed).
    expect((await post(app, "/admin/console/resume", session, { rule: "ProcessingInProgress", reason: "vendor back", by: "bob" })).status).toBe(303);
    expect(await openPauses()).toEqual([]);
    expect((await actions()).map((a) => `${a.action} ${a.actor}`)).toEqual(["pause alice", "resume bob"]);
  }, 60_000);

  it("a release whose audit insert fails queues no sweep (503); done again, one sweep, audited once", async () => {
    const session = await openConsole(app);
    const queue = new Queue(SWEEP_QUEUE, { connection: { url: testRedisUrl() }, prefix: app.prefix });
    const released = async () => (await queue.getJobs(["waiting", "active", "completed", "failed", "delayed"])).map((j) => j.data.releasedBy);
    try {
      const lock = await holdTransaction("LOCK TABLE operator_actions IN EXCLUSIVE MODE");
      try {
        const refused = await post(app, "/admin/console/release", session, { rule: "ProcessingInProgress", reason: "checked", by: "carol" });
        expect(refused.status).toBe(503);
        expect(await released()).toEqual([]); // "nothing was done": no released sweep without its audit record
      } finally {
        await lock.release();
      }
      expect((await post(app, "/admin/console/release", session, { rule: "ProcessingInProgress", reason: "checked", by: "carol" })).status).toBe(303);
      const jobs = await queue.getJobs(["waiting", "active", "completed", "failed", "delayed"]);
      expect(jobs.map((j) => j.data.releasedBy)).toEqual(["carol"]);
      expect(await db.$queryRaw`SELECT action, actor, details FROM operator_actions`).toEqual([{ action: "release", actor: "carol", details: { statuses: ["ProcessingInProgress"], sweepJobId: jobs[0]!.id, dryRun: false } }]);
    } finally {
      await queue.close();
    }
  }, 60_000);
});

describe("PostgreSQL frozen", () => {
  it("the console page answers within its sections' bound (5 s), each section that needs PostgreSQL showing why; after the thaw, all of it again", async () => {
    const pgProxy = await startTcpProxy();
    // The default timeouts (a statement 30 s, connecting or waiting for the pool 10 s): what an operator meets.
    const app = await startApp({ DATABASE_URL: pgProxy.url(testDatabaseUrl()) });
    try {
      pgProxy.freeze();
      const started = Date.now();
      const page = await fetch(`${app.opsUrl}/admin/console`, { headers: { authorization: AUTH } });
      const elapsedMs = Date.now() - started;
      expect(page.status).toBe(200);
      expect(await page.text()).toMatch(/no answer within 5000 ms/);
      expect(elapsedMs).toBeLessThan(7000);
      pgProxy.restore();
      await expect.poll(async () => (await fetch(`${app.opsUrl}/readyz`)).status, { timeout: 40_000, interval: 200 }).toBe(200);
      const after = await fetch(`${app.opsUrl}/admin/console`, { headers: { authorization: AUTH } });
      expect(await after.text()).not.toMatch(/no answer within/);
    } finally {
      pgProxy.restore();
      await app.stop();
      await pgProxy.close();
    }
  }, 90_000);
});
