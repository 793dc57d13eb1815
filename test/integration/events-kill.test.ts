// The worker SIGKILLed after the sweep committed its events and before they were delivered: the
// next worker resumes from the table and every event arrives, once per id, signed; the events
// queue holds each event once.
import { Queue } from "bullmq";
import { afterAll, afterEach, beforeEach, expect, it } from "vitest";
import type { TaskEventMessage } from "../../src/outbox/message.js";
import { EVENTS_QUEUE, SWEEP_QUEUE } from "../../src/platform/queue-names.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { insertTasks, resetTables, testDb } from "../support/db.js";
import { deletePrefix, testRedisUrl, uniquePrefix } from "../support/redis.js";
import { startWebhookReceiver, webhooksJson, type WebhookReceiver } from "../support/webhook-receiver.js";
import { killStillRunning, runCli, workerEnv, type CliProcess } from "../support/worker-process.js";

const db = testDb();
let prefix: string;
let receiver: WebhookReceiver;
const children: CliProcess[] = [];

beforeEach(async () => {
  await resetTables(db);
  prefix = uniquePrefix();
  receiver = await startWebhookReceiver([7]);
});
afterEach(async () => {
  killStillRunning(children);
  await receiver.close();
  await deletePrefix(prefix);
});
afterAll(() => db.$disconnect());

it("when the worker is killed -9 between commit and delivery, every event arrives after a restart", async () => {
  const env = workerEnv(prefix, {
    EVENTS_QUEUE_ENABLED: "true",
    WEBHOOKS_JSON: webhooksJson(receiver, [7]),
    OUTBOX_POLL_INTERVAL: "PT0.05S",
    WEBHOOK_RETRY_DELAY: "PT1S",
    WEBHOOK_RETRY_MAX_DELAY: "PT1S",
  });
  await insertTasks(db, Array.from({ length: 20 }, () => ({ status: S.ProcessingInProgress, ageSeconds: 5 * 3600, organizationId: 7 })));
  receiver.mode = "down";
  const first = runCli(["start"], env);
  children.push(first);
  await first.waitForLog("watchdog started");
  const sweeps = new Queue(SWEEP_QUEUE, { connection: { url: testRedisUrl() }, prefix });
  await sweeps.add("sweep", {});
  await sweeps.close();

  // Committed, and its delivery under way but failing: nothing has arrived.
  await receiver.waitFor((r) => r.attempts >= 1);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const [row] = await db.$queryRaw<{ n: number; failed: number }[]>`
      SELECT (SELECT count(*)::int FROM task_events) AS n, coalesce((SELECT failed_attempts FROM outbox_cursors WHERE target = 'webhook:7'), 0) AS failed`;
    if (row!.n === 20 && row!.failed >= 1) break;
    if (Date.now() > deadline) throw new Error(`not committed and failing: ${JSON.stringify(row)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 100)); // the job is between attempts (1 s apart)
  first.proc.kill("SIGKILL");
  expect(await first.exited).toEqual({ code: null, signal: "SIGKILL" });
  expect(receiver.delivered).toHaveLength(0);

  receiver.mode = "ok";
  const second = runCli(["start"], env);
  children.push(second);
  await second.waitForLog("watchdog started");
  await receiver.waitFor((r) => r.ids.size >= 20, 40_000);
  const ids = (await db.$queryRaw<{ id: string }[]>`SELECT 'evt_' || id AS id FROM task_events`).map((r) => r.id).sort();
  expect([...receiver.ids].sort()).toEqual(ids);
  expect(receiver.delivered.every((d) => d.verified)).toBe(true);
  expect(receiver.maxConcurrentPerId).toBe(1);

  const events = new Queue<TaskEventMessage>(EVENTS_QUEUE, { connection: { url: testRedisUrl() }, prefix });
  const jobs = await events.getJobs(["waiting"], 0, -1);
  await events.close();
  expect(jobs.map((j) => j.id).sort()).toEqual(ids);

  second.proc.kill("SIGTERM");
  expect(await second.exited).toEqual({ code: 0, signal: null });
}, 60_000);
