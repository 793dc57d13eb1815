// task_events is the audit trail and the outbox (prisma/migrations/20261204130000_events_partitioned):
// an event outlives its task, carries the task's organization, workspace and external id from the
// moment it was written, and an undelivered event of a deleted task is still delivered, to the
// events queue and to its organization's webhook. A reprocess request id stays unique across the
// table's partitions, and sweep events (no request id) are not indexed for it.
import { Queue } from "bullmq";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startWatchdog, type Watchdog } from "../../src/app.js";
import { buildRules } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import type { Db } from "../../src/platform/db/client.js";
import type { TaskEventMessage } from "../../src/outbox/message.js";
import { createLogger } from "../../src/platform/logger.js";
import { EVENTS_QUEUE } from "../../src/platform/queue-names.js";
import { runSweep } from "../../src/sweep/run-sweep.js";
import { testConfig } from "../support/config.js";
import { insertTasks, resetTables, testDb } from "../support/db.js";
import { deletePrefix, testRedisUrl, uniquePrefix } from "../support/redis.js";
import { startWebhookReceiver, webhooksJson, type WebhookReceiver } from "../support/webhook-receiver.js";

const H = 3600;
const rules = buildRules();
let db: Db;
let prefix: string;
let receiver: WebhookReceiver;
let watchdog: Watchdog | undefined;
let queue: Queue<TaskEventMessage>;

beforeEach(async () => {
  db = testDb();
  await resetTables(db);
  prefix = uniquePrefix();
  receiver = await startWebhookReceiver([7]);
  queue = new Queue(EVENTS_QUEUE, { connection: { url: testRedisUrl() }, prefix });
});
afterEach(async () => {
  await watchdog?.close();
  watchdog = undefined;
  await receiver.close();
  await queue.close();
  await db.$disconnect();
  await deletePrefix(prefix);
});

async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last: ${JSON.stringify(v).slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("the audit trail outlives its task", () => {
  it("when a task with events is deleted, then its events stay, with the organization, workspace and external id they were written with", async () => {
    const [id] = await insertTasks(db, [{ status: S.ProcessingInProgress, ageSeconds: 5 * H, organizationId: 7, workspaceId: 3, externalId: "gone-1" }]);
    await runSweep(db, rules, { sweepId: "sweep-audit", dryRun: false, batchSize: 100 });
    await db.$executeRaw`DELETE FROM tasks WHERE id = ${id}`;
    const rows = await db.$queryRaw<{ task_id: number; organization_id: number; workspace_id: number; external_id: string; kind: string }[]>`
      SELECT task_id, organization_id, workspace_id, external_id, kind::text FROM task_events`;
    expect(rows).toEqual([{ task_id: id, organization_id: 7, workspace_id: 3, external_id: "gone-1", kind: "AUTO_REVERTED" }]);
  });

  it("when an event is written without its organization (an older writer), then it is taken from the task; for a task that does not exist the insert fails naming it", async () => {
    const [id] = await insertTasks(db, [{ status: S.ProcessingFailed, ageSeconds: 60, organizationId: 11, workspaceId: 4, externalId: "x-4" }]);
    await db.$executeRaw`INSERT INTO task_events (task_id, kind, from_status, reason, actor) VALUES (${id}, 'FLAGGED', 42, 'by hand', 'psql')`;
    const [row] = await db.$queryRaw<{ organization_id: number; workspace_id: number; external_id: string }[]>`SELECT organization_id, workspace_id, external_id FROM task_events`;
    expect(row).toEqual({ organization_id: 11, workspace_id: 4, external_id: "x-4" });
    await expect(db.$executeRaw`INSERT INTO task_events (task_id, kind, from_status, reason, actor) VALUES (${id! + 1000}, 'FLAGGED', 42, 'by hand', 'psql')`).rejects.toThrow(
      /task \d+ does not exist/,
    );
  });

  it("when the task of an undelivered event is deleted in the event's own transaction, then the event still reaches the queue and the webhook", async () => {
    watchdog = await startWatchdog(
      testConfig(prefix, { EVENTS_QUEUE_ENABLED: "true", WEBHOOKS_JSON: webhooksJson(receiver, [7]), OUTBOX_POLL_INTERVAL: "PT0.05S" }),
      rules,
      createLogger({ level: "silent" }),
    );
    const [id] = await insertTasks(db, [{ status: S.ProcessingInProgress, ageSeconds: 5 * H, organizationId: 7, workspaceId: 3, externalId: "gone-2" }]);
    await db.$transaction([
      db.$executeRaw`INSERT INTO task_events (task_id, kind, from_status, to_status, reason, actor) VALUES (${id}, 'AUTO_REVERTED', 41, 42, 'reverted, then deleted', 'watchdog')`,
      db.$executeRaw`DELETE FROM tasks WHERE id = ${id}`,
    ]);
    const [event] = await db.$queryRaw<{ id: string }[]>`SELECT 'evt_' || id AS id FROM task_events`;
    const jobs = await until(() => queue.getJobs(["waiting"], 0, -1, true), (j) => j.length >= 1);
    expect(jobs.map((j) => [j.id, j.data.taskId, j.data.organizationId, j.data.workspaceId, j.data.externalId])).toEqual([[event!.id, id, 7, 3, "gone-2"]]);
    await receiver.waitFor((r) => r.delivered.length >= 1);
    expect(receiver.delivered.map((d) => [d.webhookId, d.body.data.taskId, d.verified])).toEqual([[event!.id, id, true]]);
  });
});

describe("reprocess request ids across partitions", () => {
  it("when a second event names a request id already used, then it fails with a unique violation, even in another month's partition", async () => {
    const [id] = await insertTasks(db, [{ status: S.ProcessingFailed, ageSeconds: 60, organizationId: 7 }]);
    await db.$executeRaw`INSERT INTO task_events (task_id, kind, from_status, reason, actor, request_id) VALUES (${id}, 'REPROCESSED', 42, 'r', 'me', 'req-1')`;
    await expect(
      db.$executeRaw`INSERT INTO task_events (task_id, kind, from_status, reason, actor, request_id, created_at) VALUES (${id}, 'REPROCESSED', 42, 'r', 'me', 'req-1', now() - interval '40 days')`,
    ).rejects.toThrow(/duplicate key value violates unique constraint "task_event_requests_pkey"/);
    const partitions = await db.$queryRaw<{ n: bigint }[]>`SELECT count(DISTINCT tableoid)::bigint AS n FROM task_events`;
    expect(partitions[0]!.n).toBe(1n);
  });

  it("when a sweep writes events, then none of them is in the request registry or the request_id index", async () => {
    await insertTasks(db, Array.from({ length: 20 }, () => ({ status: S.ProcessingInProgress, ageSeconds: 5 * H, organizationId: 7 })));
    await runSweep(db, rules, { sweepId: "sweep-nulls", dryRun: false, batchSize: 100 });
    const [counts] = await db.$queryRaw<{ events: number; requests: number }[]>`
      SELECT (SELECT count(*)::int FROM task_events) AS events, (SELECT count(*)::int FROM task_event_requests) AS requests`;
    expect(counts).toEqual({ events: 20, requests: 0 });
    const [index] = await db.$queryRaw<{ def: string }[]>`SELECT indexdef AS def FROM pg_indexes WHERE indexname = 'task_events_request_id_idx'`;
    expect(index!.def).toMatch(/WHERE \(request_id IS NOT NULL\)/);
  });
});
