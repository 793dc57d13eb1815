// Signed webhooks per organization against a real local receiver (test/support/webhook-receiver.ts):
// every event arrives signed with its organization's secret, once per id, in order per task; a
// receiver that is down gets every event once it is back (retry delays shortened by configuration);
// an event failing past WEBHOOK_RETRY_FOR is given up, visible on the board and in the metrics,
// and the next events go out; two replicas relaying 10,000 events never deliver one twice at once.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startWatchdog, type Watchdog } from "../../src/app.js";
import { buildRules } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import type { Db } from "../../src/platform/db/client.js";
import { createLogger } from "../../src/platform/logger.js";
import { runSweep } from "../../src/sweep/run-sweep.js";
import { testConfig } from "../support/config.js";
import { holdTransaction, insertTasks, resetTables, testDb } from "../support/db.js";
import { deletePrefix, uniquePrefix } from "../support/redis.js";
import { startWebhookReceiver, webhooksJson, type WebhookReceiver } from "../support/webhook-receiver.js";

const H = 3600;
const rules = buildRules();
const ORGS = [7, 8];
let db: Db;
let prefix: string;
let receiver: WebhookReceiver;
const watchdogs: Watchdog[] = [];

beforeEach(async () => {
  db = testDb();
  await resetTables(db);
  prefix = uniquePrefix();
  receiver = await startWebhookReceiver([...ORGS, 9, 10]);
});
afterEach(async () => {
  await Promise.all(watchdogs.splice(0).map((w) => w.close()));
  await receiver.close();
  await db.$disconnect();
  await deletePrefix(prefix);
});

const start = async (env: Record<string, string> = {}, orgs = ORGS) => {
  const w = await startWatchdog(
    testConfig(prefix, { WEBHOOKS_JSON: webhooksJson(receiver, orgs), OUTBOX_POLL_INTERVAL: "PT0.05S", WEBHOOK_RETRY_DELAY: "PT0.1S", WEBHOOK_RETRY_MAX_DELAY: "PT0.2S", ...env }),
    rules,
    createLogger({ level: "silent" }),
  );
  watchdogs.push(w);
  return w;
};

const sweep = () => runSweep(db, rules, { sweepId: `sweep-${Math.random()}`, dryRun: false, batchSize: 1000 });
const eventIds = async () => (await db.$queryRaw<{ id: string }[]>`SELECT id::text FROM task_events ORDER BY id`).map((r) => `evt_${r.id}`);
const distinctIds = () => receiver.ids;

describe("signed webhooks", () => {
  it("when a sweep reverts tasks of two organizations, each event arrives once, signed with its own organization's secret", async () => {
    await start();
    const ids = await insertTasks(db, [
      ...Array.from({ length: 30 }, () => ({ status: S.ProcessingInProgress, ageSeconds: 5 * H, organizationId: 7 })),
      ...Array.from({ length: 20 }, () => ({ status: S.QueuedForExport, ageSeconds: 2 * H, organizationId: 8 })),
      { status: S.ProcessingInProgress, ageSeconds: 5 * H, organizationId: 99 }, // no endpoint: not sent anywhere
    ]);
    await sweep();
    await receiver.waitFor((r) => r.delivered.length >= 50);
    await new Promise((r) => setTimeout(r, 300)); // more relay rounds: nothing else may arrive
    expect(receiver.delivered).toHaveLength(50);
    const ofOrgs = await db.$queryRaw<{ id: string }[]>`SELECT 'evt_' || e.id AS id FROM task_events e JOIN tasks t ON t.id = e.task_id WHERE t.organization_id IN (7, 8)`;
    expect([...distinctIds()].sort()).toEqual(ofOrgs.map((r) => r.id).sort());
    for (const d of receiver.delivered) {
      expect(d.verified, d.webhookId).toBe(true);
      expect(d.verifiedWithOtherSecret).toBe(false);
      expect(d.body.data.organizationId).toBe(d.organizationId);
      expect(d.body.data.id).toBe(d.webhookId);
      expect(d.body.type).toBe("task.auto_reverted");
      expect(Math.abs(d.timestamp - Date.now() / 1000)).toBeLessThan(60);
    }
    expect(receiver.delivered.some((d) => d.body.data.taskId === ids.at(-1))).toBe(false);
    expect(receiver.maxConcurrentPerId).toBe(1);
  });

  it("with WEBHOOK_CONCURRENCY × WEBHOOK_ENDPOINT_CONCURRENCY above 64, that many requests are in flight at once to one host", async () => {
    // 20 organizations whose endpoints share one host (a SaaS receiver), 4 tasks each: 80 requests may
    // be in flight. The receiver answers none until 80 are (or 5 s pass).
    const many = Array.from({ length: 20 }, (_, i) => 100 + i);
    const shared = await startWebhookReceiver(many);
    try {
      shared.gather = { until: 80, forMs: 5000 };
      const w = await startWatchdog(
        testConfig(prefix, { WEBHOOKS_JSON: webhooksJson(shared, many), OUTBOX_POLL_INTERVAL: "PT0.05S", WEBHOOK_CONCURRENCY: "20", WEBHOOK_ENDPOINT_CONCURRENCY: "4" }),
        rules,
        createLogger({ level: "silent" }),
      );
      watchdogs.push(w);
      await insertTasks(db, many.flatMap((organizationId) => Array.from({ length: 4 }, () => ({ status: S.ProcessingInProgress, ageSeconds: 5 * H, organizationId }))));
      const started = Date.now();
      await sweep();
      await shared.waitFor((r) => r.delivered.length >= 80);
      expect(shared.maxInFlight).toBe(80);
      // Released by the 80th request, not by the receiver's 5 s.
      expect(Date.now() - started).toBeLessThan(4000);
    } finally {
      await shared.close();
    }
  });

  it("when the receiver is down for a while, deliveries are retried with backoff and every event arrives, in order per task", async () => {
    receiver.mode = "down";
    const w = await start();
    const [task] = await insertTasks(db, [
      { status: S.ProcessingInProgress, ageSeconds: 5 * H, organizationId: 7 },
      ...Array.from({ length: 9 }, () => ({ status: S.ProcessingInProgress, ageSeconds: 5 * H, organizationId: 7 })),
    ]);
    await sweep();
    await receiver.waitFor((r) => r.attempts >= 3); // failing, retried
    // The organization's row says which event fails, since when and why (no secret in it).
    const failing = async () =>
      (await db.$queryRaw<{ last_error: string | null; failed_attempts: number; pending: boolean }[]>`
        SELECT last_error, failed_attempts, pending FROM outbox_cursors WHERE target = 'webhook:7'`)[0]!;
    const deadline = Date.now() + 10_000;
    while ((await failing()).failed_attempts < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    const row = await failing();
    expect(row!.last_error).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/hooks\/7 answered 503$/);
    expect(row!.failed_attempts).toBeGreaterThanOrEqual(1);
    expect(row!.pending).toBe(true);
    const metrics = await (await fetch(`${w.opsUrl}/metrics`)).text();
    expect(metrics).toMatch(/watchdog_events_delivered_total\{target="webhook",outcome="failed"\} [1-9]/);
    expect(metrics).toMatch(/watchdog_outbox_pending_organizations 1/);
    expect(metrics).toMatch(/watchdog_outbox_oldest_pending_age_seconds\{target="webhook"\} [0-9.]+/);
    expect(receiver.delivered).toHaveLength(0);

    // Then a reprocess of the first task: its second event must arrive after its first.
    await db.$executeRaw`INSERT INTO task_events (task_id, kind, from_status, to_status, reason, actor) VALUES (${task}, 'REPROCESSED', 42, 30, 'again', 'test')`;
    receiver.mode = "ok";
    await receiver.waitFor((r) => r.delivered.length >= 11);
    expect(distinctIds()).toEqual(new Set(await eventIds()));
    const ofTask = receiver.delivered.filter((d) => d.body.data.taskId === task).map((d) => d.body.data.kind);
    expect(ofTask).toEqual(["AUTO_REVERTED", "REPROCESSED"]);
    const after = await (await fetch(`${w.opsUrl}/metrics`)).text();
    expect(after).toMatch(/watchdog_events_delivered_total\{target="webhook",outcome="delivered"\} 11/);
  });

  it("when one event keeps failing past WEBHOOK_RETRY_FOR, it is given up (counted, its row cleared), and the next events go out", async () => {
    receiver.mode = "down";
    const w = await start({ WEBHOOK_RETRY_FOR: "PT1H" });
    await insertTasks(db, Array.from({ length: 3 }, () => ({ status: S.ProcessingInProgress, ageSeconds: 5 * H, organizationId: 7 })));
    await sweep();
    const [first] = await eventIds();
    // Its first failure is recorded; then time moves by writing the timestamp: it has been failing for two hours.
    for (const deadline = Date.now() + 10_000; ; ) {
      const moved = await db.$executeRaw`UPDATE outbox_cursors SET failing_since = now() - interval '2 hours' WHERE target = 'webhook:7' AND failing_event_id IS NOT NULL`;
      if (moved === 1) break;
      if (Date.now() > deadline) throw new Error("the first failure was never recorded");
      await new Promise((r) => setTimeout(r, 25));
    }
    const givenUp = async () => Number(/watchdog_events_delivered_total\{target="webhook",outcome="given_up"\} (\d+)/.exec(await (await fetch(`${w.opsUrl}/metrics`)).text())?.[1] ?? 0);
    const deadline = Date.now() + 10_000;
    while ((await givenUp()) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    expect(await givenUp()).toBe(1);
    // The position moved past it: the next attempt is the second event.
    const [row] = await db.$queryRaw<{ after: string }[]>`SELECT 'evt_' || after_event_id AS after FROM outbox_cursors WHERE target = 'webhook:7'`;
    expect(row!.after).toBe(first);
    receiver.mode = "ok";
    await receiver.waitFor((r) => r.delivered.length >= 2);
    await new Promise((r) => setTimeout(r, 300));
    expect([...distinctIds()].sort()).toEqual((await eventIds()).slice(1).sort());
    const metrics = await (await fetch(`${w.opsUrl}/metrics`)).text();
    expect(metrics).toMatch(/watchdog_events_delivered_total\{target="webhook",outcome="given_up"\} 1/);
  });

  it("two replicas relaying 10,000 events deliver each of them, and never one twice at the same time", async () => {
    const orgs = [7, 8, 9, 10];
    await Promise.all([start({ WEBHOOK_CONCURRENCY: "4" }, orgs), start({ WEBHOOK_CONCURRENCY: "4" }, orgs)]);
    const tasks = await insertTasks(db, Array.from({ length: 400 }, (_, i) => ({ status: S.ToReview, ageSeconds: 0, organizationId: orgs[i % 4] })));
    // 10,000 events in 20 concurrent-ish transactions of 500.
    await Promise.all(
      Array.from({ length: 20 }, (_, batch) =>
        db.$executeRaw`INSERT INTO task_events (task_id, kind, from_status, to_status, reason, actor)
          SELECT t, 'REPROCESSED', 50, 30, 'load ' || ${batch}::int || '/' || g, 'test'
          FROM unnest(${tasks}::int[]) AS t, generate_series(1, 25) g
          WHERE (t + g) % 20 = ${batch}::int`,
      ),
    );
    const total = (await eventIds()).length;
    expect(total).toBe(10_000);
    receiver.delayMs = 1; // each request open a little longer: two deliveries of one id would overlap
    await receiver.waitFor((r) => r.ids.size >= total, 60_000);
    expect(distinctIds()).toEqual(new Set(await eventIds()));
    expect(receiver.maxConcurrentPerId).toBe(1);
    // Nothing crashed, so nothing was delivered twice at all (at least once allows it after a crash only).
    expect(receiver.delivered).toHaveLength(total);
    expect(receiver.delivered.every((d) => d.verified)).toBe(true);
  }, 90_000);
  it("shutdown with a delivery hanging: close() returns within WEBHOOK_TIMEOUT, twice is harmless, and no secret reaches a log line", async () => {
    const lines: string[] = [];
    const destination = { write: (line: string) => void lines.push(line) };
    receiver.mode = "hang";
    const w = await startWatchdog(
      testConfig(prefix, { WEBHOOKS_JSON: webhooksJson(receiver, ORGS), OUTBOX_POLL_INTERVAL: "PT0.05S", WEBHOOK_TIMEOUT: "PT1S", LOG_LEVEL: "debug" }),
      rules,
      createLogger({ level: "debug", destination }),
    );
    await insertTasks(db, [{ status: S.ProcessingInProgress, ageSeconds: 5 * H, organizationId: 7 }]);
    await sweep();
    await receiver.waitFor((r) => r.attempts >= 1);
    const started = performance.now();
    await Promise.all([w.close(), w.close()]);
    await w.close();
    expect(performance.now() - started).toBeLessThan(5000);
    expect(lines.some((l) => l.includes("webhook delivery failed"))).toBe(true); // the timed-out attempt
    const all = lines.join("\n");
    for (const org of ORGS) expect(all).not.toContain(receiver.secret(org).slice("whsec_".length, 20));
  });
  it("an organization with nothing pending is never read nor leased: dispatch marks only the organizations that have new events", async () => {
    await start();
    await insertTasks(db, Array.from({ length: 5 }, () => ({ status: S.ProcessingInProgress, ageSeconds: 5 * H, organizationId: 7 })));
    await sweep();
    await receiver.waitFor((r) => r.ids.size >= 5);
    const read = () =>
      db.$queryRaw<{ target: string; mark_seq: bigint; pending: boolean; delivered: bigint }[]>`
        SELECT target, mark_seq, pending, delivered_count AS delivered FROM outbox_cursors WHERE target LIKE 'webhook:%' ORDER BY target`;
    const deadline = Date.now() + 10_000;
    let rows = await read();
    while (rows[0]!.delivered < 5n && Date.now() < deadline) rows = await new Promise((r) => setTimeout(r, 25)).then(read); // the last position write
    expect(rows.map((r) => [r.target, r.mark_seq > 0n, r.delivered])).toEqual([
      ["webhook:7", true, 5n],
      ["webhook:8", false, 0n],
    ]);
    expect(receiver.delivered.every((d) => d.organizationId === 7)).toBe(true);
  });

  it("an endpoint that refuses or hangs delays no other organization: theirs arrive while it is retried", async () => {
    const hanging = await startWebhookReceiver([10]);
    hanging.mode = "hang";
    try {
      const endpoints = JSON.parse(webhooksJson(receiver, [7, 8])) as { organizationId: number; url: string; secret: string }[];
      endpoints.push({ organizationId: 9, url: "http://127.0.0.1:1/hooks/9", secret: receiver.secret(9) }); // nothing listens: refused
      endpoints.push({ organizationId: 10, url: hanging.url(10), secret: hanging.secret(10) });
      await start({ WEBHOOKS_JSON: JSON.stringify(endpoints), WEBHOOK_TIMEOUT: "PT2S", WEBHOOK_CONCURRENCY: "4" }, []);
      await insertTasks(db, [9, 10, 9, 10, 7, 8].flatMap((organizationId) => Array.from({ length: 5 }, () => ({ status: S.ProcessingInProgress, ageSeconds: 5 * H, organizationId }))));
      const started = Date.now();
      await sweep();
      await receiver.waitFor((r) => r.ids.size >= 10, 10_000);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(new Set(receiver.delivered.map((d) => d.organizationId))).toEqual(new Set([7, 8]));
      // The hanging endpoint is tried too (its first attempt may start after the others' events arrived).
      await hanging.waitFor((r) => r.attempts >= 1, 10_000);
    } finally {
      await Promise.all(watchdogs.splice(0).map((w) => w.close()));
      await hanging.close();
    }
  });

  it("an organization with a slow endpoint hands over after WEBHOOK_ORGANIZATION_TURN, inside its page: the one waiting behind it is not held for the whole page", async () => {
    // One organization at a time, one request at a time, 40 ms per answer: organization 7's 100 events
    // (one page) take 4 s. Organization 8's event, committed once 7's delivery is under way, must go out
    // after 7's turn (0.3 s), not after 7's page.
    receiver.delayMs = 40;
    await start({ WEBHOOK_CONCURRENCY: "1", WEBHOOK_ENDPOINT_CONCURRENCY: "1", WEBHOOK_ORGANIZATION_TURN: "PT0.3S" });
    await insertTasks(db, Array.from({ length: 100 }, () => ({ status: S.ProcessingInProgress, ageSeconds: 5 * H, organizationId: 7 })));
    const [waiting] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 0, organizationId: 8 }]);
    await sweep();
    await receiver.waitFor((r) => r.delivered.length >= 1, 10_000);
    const committed = Date.now();
    await db.$executeRaw`INSERT INTO task_events (task_id, kind, from_status, to_status, reason, actor) VALUES (${waiting}, 'REPROCESSED', 50, 30, 'waiting behind a slow endpoint', 'test')`;
    await receiver.waitFor((r) => r.delivered.some((d) => d.organizationId === 8), 10_000);
    expect(Date.now() - committed).toBeLessThan(2000);
    expect(receiver.delivered.filter((d) => d.organizationId === 7).length).toBeLessThan(100);
    // Organization 7 gets its turn again: every event arrives, once.
    await receiver.waitFor((r) => r.ids.size >= 101, 20_000);
    expect(receiver.delivered).toHaveLength(101);
    expect(receiver.maxConcurrentPerId).toBe(1);
  });

  it("a transaction left open elsewhere delays only its own events", async () => {
    await start();
    const [held, other] = await insertTasks(db, [
      { status: S.ToReview, ageSeconds: 0, organizationId: 8 },
      { status: S.ToReview, ageSeconds: 0, organizationId: 7 },
    ]);
    const open = await holdTransaction(`INSERT INTO task_events (task_id, kind, from_status, to_status, reason, actor) VALUES (${held}, 'REPROCESSED', 50, 30, 'held open', 'test')`);
    try {
      await db.$executeRaw`INSERT INTO task_events (task_id, kind, from_status, to_status, reason, actor) VALUES (${other}, 'REPROCESSED', 50, 30, 'committed', 'test')`;
      await receiver.waitFor((r) => r.delivered.length >= 1, 10_000);
      expect(receiver.delivered.map((d) => d.body.data.reason)).toEqual(["committed"]);
    } finally {
      await open.release();
    }
    await receiver.waitFor((r) => r.delivered.length >= 2, 10_000);
    expect(receiver.delivered.map((d) => d.body.data.reason)).toEqual(["committed", "held open"]);
  });
});
