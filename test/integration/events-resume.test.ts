// A worker killed -9 in the middle of a webhook delivery (a real worker process, a slow receiver):
// the next worker resumes within seconds — the dead one's lease on the organization runs out after
// OUTBOX_LEASE, there is no job lock to wait for — and, because the organization's position moves
// with each delivered event, only the events in flight or whose position was not yet written at the
// kill are sent again: at most AHEAD_WIDTHS × WEBHOOK_ENDPOINT_CONCURRENCY (src/outbox/send-window.ts).
import { afterAll, afterEach, beforeEach, expect, it } from "vitest";
import { TaskStatus as S } from "../../src/rules/status.js";
import { AHEAD_WIDTHS } from "../../src/outbox/send-window.js";
import { insertTasks, resetTables, testDb } from "../support/db.js";
import { deletePrefix, uniquePrefix } from "../support/redis.js";
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

const EVENTS = 40;
const IN_FLIGHT = 2; // WEBHOOK_ENDPOINT_CONCURRENCY below

it("when the worker is killed -9 mid-delivery, a new worker resumes within seconds and re-sends at most the events not yet written as delivered", async () => {
  const env = workerEnv(prefix, {
    WEBHOOKS_JSON: webhooksJson(receiver, [7]),
    OUTBOX_POLL_INTERVAL: "PT0.1S",
    OUTBOX_LEASE: "PT3S",
    WEBHOOK_ENDPOINT_CONCURRENCY: String(IN_FLIGHT),
  });
  receiver.delayMs = 100; // a slow endpoint: each delivery takes 100 ms, so the kill lands mid-stream
  const first = runCli(["start"], env);
  children.push(first);
  await first.waitForLog("watchdog started");
  // The events are written after the worker started (its organization's position is "now").
  const taskIds = await insertTasks(db, Array.from({ length: EVENTS }, () => ({ status: S.ProcessingFailed, ageSeconds: 60, organizationId: 7 })));
  await db.$executeRaw`
    INSERT INTO task_events (task_id, kind, from_status, reason, actor)
    SELECT id, 'FLAGGED', 42, 'resume test', 'test' FROM unnest(${taskIds}::int[]) WITH ORDINALITY AS t(id, n) ORDER BY n`;

  await receiver.waitFor((r) => r.delivered.length >= 10, 20_000);
  first.proc.kill("SIGKILL");
  expect(await first.exited).toEqual({ code: null, signal: "SIGKILL" });
  await new Promise((r) => setTimeout(r, receiver.delayMs + 50)); // the requests in flight are answered (and counted)
  const beforeRestart = receiver.delivered.length;
  expect(beforeRestart).toBeLessThan(EVENTS);

  const restartedAt = Date.now();
  const second = runCli(["start"], env);
  children.push(second);
  await receiver.waitFor((r) => r.delivered.length > beforeRestart, 20_000);
  const resumedAfterMs = Date.now() - restartedAt;
  await receiver.waitFor((r) => r.ids.size >= EVENTS, 30_000);

  const ids = (await db.$queryRaw<{ id: string }[]>`SELECT 'evt_' || id AS id FROM task_events`).map((r) => r.id).sort();
  expect([...receiver.ids].sort()).toEqual(ids);
  const sentAgain = receiver.delivered.length - EVENTS;
  console.info(`resume: first delivery ${resumedAfterMs} ms after the restart (lease 3 s); sent again: ${sentAgain} (at most ${AHEAD_WIDTHS} × ${IN_FLIGHT}: requests in flight, answers whose position was not written yet)`);
  expect(sentAgain).toBeLessThanOrEqual(AHEAD_WIDTHS * IN_FLIGHT);
  // The restart itself (a cold tsx start, 2-4 s here) plus the rest of the dead worker's lease.
  expect(resumedAfterMs).toBeLessThan(10_000);
  second.proc.kill("SIGTERM");
  expect(await second.exited).toEqual({ code: 0, signal: null });
}, 90_000);
