// Webhook replay end to end, against a real receiver (test/support/webhook-receiver.ts) and a whole
// worker: the receiver is down past WEBHOOK_RETRY_FOR (time moved by writing failing_since), every
// event is given up (and recorded); `watchdog events replay --given-up` (a child process, as an
// operator runs it) sends each given-up event once more with its original webhook-id and a valid
// signature; the replay is audited; asking again finds nothing left to replay. A replay job retried
// from the board with nothing left to send is refused with the reason, never completed empty.
import { Queue } from "bullmq";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startWatchdog, type Watchdog } from "../../src/app.js";
import { buildRules } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import type { Db } from "../../src/platform/db/client.js";
import { createLogger } from "../../src/platform/logger.js";
import { WEBHOOK_REPLAYS_QUEUE } from "../../src/platform/queue-names.js";
import { runSweep } from "../../src/sweep/run-sweep.js";
import { testConfig } from "../support/config.js";
import { insertTasks, resetTables, testDatabaseUrl, testDb } from "../support/db.js";
import { deletePrefix, testRedisUrl, uniquePrefix } from "../support/redis.js";
import { startWebhookReceiver, webhooksJson, type WebhookReceiver } from "../support/webhook-receiver.js";
import { runCli } from "../support/worker-process.js";
import { replayDeps, requestReplay } from "../../src/outbox/replay.js";

const H = 3600;
const rules = buildRules();
let db: Db;
let prefix: string;
let receiver: WebhookReceiver;
let watchdog: Watchdog | undefined;
let queue: Queue;

beforeEach(async () => {
  db = testDb();
  await resetTables(db);
  prefix = uniquePrefix();
  receiver = await startWebhookReceiver([7]);
  queue = new Queue(WEBHOOK_REPLAYS_QUEUE, { connection: { url: testRedisUrl() }, prefix });
});
afterEach(async () => {
  await watchdog?.close();
  watchdog = undefined;
  await queue.close();
  await receiver.close();
  await db.$disconnect();
  await deletePrefix(prefix);
});

const env = () => ({ WEBHOOKS_JSON: webhooksJson(receiver, [7]), OUTBOX_POLL_INTERVAL: "PT0.05S", WEBHOOK_RETRY_DELAY: "PT0.05S", WEBHOOK_RETRY_MAX_DELAY: "PT0.1S", WEBHOOK_RETRY_FOR: "PT1H" });
const cliEnv = () => ({ DATABASE_URL: testDatabaseUrl(), REDIS_URL: testRedisUrl(), QUEUE_PREFIX: prefix, LOG_LEVEL: "silent", ...env() });
const eventIds = async () => (await db.$queryRaw<{ id: string }[]>`SELECT id::text FROM task_events ORDER BY id`).map((r) => `evt_${r.id}`);
const givenUp = async () => (await db.$queryRaw<{ id: string }[]>`SELECT 'evt_' || event_id AS id FROM webhook_given_up ORDER BY event_id`).map((r) => r.id);

async function cli(args: string[]) {
  const run = runCli(args, cliEnv());
  const exit = await run.exited;
  return { code: exit.code, stderr: run.stderr(), stdout: run.lines() };
}

/** Keeps moving the failing event's clock two hours back until every event is given up. */
async function giveUpEverything(count: number) {
  const deadline = Date.now() + 20_000;
  while ((await givenUp()).length < count) {
    if (Date.now() > deadline) throw new Error(`only ${(await givenUp()).length} of ${count} events given up`);
    await db.$executeRaw`UPDATE outbox_cursors SET failing_since = now() - interval '2 hours' WHERE target = 'webhook:7' AND failing_since IS NOT NULL`;
    await new Promise((r) => setTimeout(r, 20)); // polling for the worker's next attempt, not moving time
  }
}

describe("webhook replay", () => {
  it("receiver down past the retry window → given up → replayed: each arrives once more with its original id, signature valid", async () => {
    receiver.mode = "down";
    watchdog = await startWatchdog(testConfig(prefix, env()), rules, createLogger({ level: "silent" }));
    await insertTasks(db, Array.from({ length: 3 }, () => ({ status: S.ProcessingInProgress, ageSeconds: 5 * H, organizationId: 7 })));
    await runSweep(db, rules, { sweepId: "sweep-replay", dryRun: false, batchSize: 1000 });
    const ids = await eventIds();
    expect(ids).toHaveLength(3);
    await giveUpEverything(3);
    expect(await givenUp()).toEqual(ids);
    expect(receiver.delivered).toHaveLength(0);

    const listed = await cli(["events", "given-up"]);
    expect(listed.code).toBe(0);
    expect(listed.stdout.map((l) => l.msg).join("\n")).toMatch(/^3 given-up event\(s\)\. Replay them: watchdog events replay --given-up/m);

    receiver.mode = "ok";
    const replayed = await cli(["events", "replay", "--given-up", "--by", "alice", "--reason", "endpoint fixed after the outage"]);
    expect(replayed).toMatchObject({ code: 0, stderr: "" });
    expect(replayed.stdout[0]).toMatchObject({ events: 3, alreadyPending: 0, organizationIds: [7] });
    await receiver.waitFor((r) => r.delivered.length >= 3);
    await expect.poll(async () => (await db.$queryRaw<{ n: number }[]>`SELECT count(delivered_at)::int AS n FROM webhook_replays`)[0]!.n, { timeout: 10_000 }).toBe(3);
    expect(receiver.delivered.map((d) => d.webhookId).sort()).toEqual([...ids].sort());
    for (const d of receiver.delivered) {
      expect(d.verified, d.webhookId).toBe(true);
      expect(d.body.data.id).toBe(d.webhookId);
    }
    // The replay job completed, having sent them; the audit trail says who, why, what.
    const job = await queue.getJob((replayed.stdout[0] as { jobId: string }).jobId);
    expect(await job!.getState()).toBe("completed");
    expect(job!.returnvalue).toEqual({ delivered: 3 });
    const [audit] = await db.$queryRaw<{ action: string; actor: string; reason: string; via: string; details: { events: number } }[]>`SELECT action, actor, reason, via, details FROM operator_actions`;
    expect(audit).toMatchObject({ action: "replay", actor: "alice", reason: "endpoint fixed after the outage", via: "cli", details: { events: 3 } });

    // Nothing is given up any more: asking again is NotFound (exit 3), nothing sent.
    const again = await cli(["events", "replay", "--given-up", "--by", "alice", "--reason", "again"]);
    expect(again).toMatchObject({ code: 3, stderr: "watchdog: NotFound: no given-up event is waiting for a replay\n" });
    expect(receiver.delivered).toHaveLength(3);
  }, 90_000); // four CLI child processes (tsx start-up) on a shared machine

  it("a replay sent while the receiver is still down is retried until it arrives; a Retry of a replay with nothing left to send is refused", async () => {
    watchdog = await startWatchdog(testConfig(prefix, env()), rules, createLogger({ level: "silent" }));
    await insertTasks(db, [{ status: S.ProcessingInProgress, ageSeconds: 5 * H, organizationId: 7 }]);
    await runSweep(db, rules, { sweepId: "sweep-replay-2", dryRun: false, batchSize: 1000 });
    const [id] = await eventIds();
    await receiver.waitFor((r) => r.delivered.length >= 1); // delivered live
    receiver.mode = "down";
    const replayed = await cli(["events", "replay", "--event", id!, "--by", "bob", "--reason", "customer asked"]);
    expect(replayed.code).toBe(0);
    await receiver.waitFor((r) => r.attempts >= 3);
    receiver.mode = "ok";
    await receiver.waitFor((r) => r.delivered.length >= 2);
    expect(receiver.delivered.map((d) => d.webhookId)).toEqual([id, id]);
    expect(receiver.delivered[1]!.verified).toBe(true);
    const job = await queue.getJob((replayed.stdout[0] as { jobId: string }).jobId);
    await expect.poll(() => job!.getState(), { timeout: 10_000 }).toBe("completed");
    // Retried anyway (the board can retry a completed job): refused with the reason, not completed empty.
    await job!.retry("completed");
    await expect.poll(async () => (await queue.getJob(job!.id!))?.failedReason, { timeout: 10_000 }).toMatch(/^Refused: replay \d+ has delivered all its 1 events already; nothing to send/);
    expect(receiver.delivered).toHaveLength(2);

    // Unknown ids and bad arguments: refused by name, nothing written.
    expect(await cli(["events", "replay", "--event", "evt_999999", "--by", "bob", "--reason", "x"])).toMatchObject({ code: 3, stderr: "watchdog: NotFound: no event evt_999999 in task_events\n" });
    expect(await cli(["events", "replay", "--event", id!, "--by", "bob"])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--reason/) });
    expect(await cli(["events", "replay", "--by", "bob", "--reason", "x"])).toMatchObject({ code: 2, stderr: expect.stringMatching(/say which events to replay/) });
    expect((await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM operator_actions`)[0]!.n).toBe(1);
  }, 90_000); // four CLI child processes (tsx start-up) on a shared machine

  it("a replay whose events can no longer be sent (pruned while the receiver was down) ends refused with the reason, never completed with nothing sent", async () => {
    watchdog = await startWatchdog(testConfig(prefix, env()), rules, createLogger({ level: "silent" }));
    await insertTasks(db, [{ status: S.ProcessingInProgress, ageSeconds: 5 * H, organizationId: 7 }]);
    await runSweep(db, rules, { sweepId: "sweep-replay-3", dryRun: false, batchSize: 1000 });
    const [id] = await eventIds();
    await receiver.waitFor((r) => r.delivered.length >= 1); // delivered live
    receiver.mode = "down";
    const replayed = await cli(["events", "replay", "--event", id!, "--by", "bob", "--reason", "customer asked"]);
    expect(replayed.code).toBe(0);
    await receiver.waitFor((r) => r.attempts >= 2);
    // The event's month is dropped (EVENTS_RETENTION) before the receiver is back: nothing is left to send.
    await db.$executeRaw`DELETE FROM task_events WHERE id = ${Number(id!.slice(4))}`;
    receiver.mode = "ok";
    const job = await queue.getJob((replayed.stdout[0] as { jobId: string }).jobId);
    await expect.poll(async () => (await queue.getJob(job!.id!))?.getState(), { timeout: 10_000 }).toBe("failed");
    expect((await queue.getJob(job!.id!))!.failedReason).toMatch(new RegExp(`^Refused: replay \\d+ sent nothing: ${id}: the event is no longer in task_events`));
    expect(receiver.delivered).toHaveLength(1);
  }, 60_000);

  it("`watchdog events replay --organization --since --until` sends that organization's events of the range again, with their ids", async () => {
    // Written before the worker starts (its relay's cursor then starts after them): only the replay sends them.
    const [task] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 0, organizationId: 7 }]);
    const ids = (await db.$queryRaw<{ id: string }[]>`
      INSERT INTO task_events (task_id, kind, from_status, to_status, reason, actor, created_at)
      SELECT ${task}, 'REPROCESSED', 42, 30, 'n' || g, 'test', timestamptz '2026-11-01T10:00:00Z' + g * interval '1 hour' FROM generate_series(0, 4) g RETURNING id::text`).map((r) => `evt_${r.id}`);
    watchdog = await startWatchdog(testConfig(prefix, env()), rules, createLogger({ level: "silent" }));
    const replayed = await cli(["events", "replay", "--organization", "7", "--since", "2026-11-01T11:00:00Z", "--until", "2026-11-01T14:00:00Z", "--by", "erin", "--reason", "customer lost a day"]);
    expect(replayed, replayed.stderr).toMatchObject({ code: 0, stderr: "" });
    expect(replayed.stdout[0]).toMatchObject({ events: 3, organizationIds: [7] });
    await receiver.waitFor((r) => r.delivered.length >= 3);
    expect(receiver.delivered.map((d) => d.webhookId).sort()).toEqual(ids.slice(1, 4).sort());
    expect(receiver.delivered.every((d) => d.verified)).toBe(true);
    const [audit] = await db.$queryRaw<{ action: string; actor: string; via: string }[]>`SELECT action, actor, via FROM operator_actions`;
    expect(audit).toEqual({ action: "replay", actor: "erin", via: "cli" });
  }, 60_000);
  it("a replay whose job is not in the queue (the request stopped before queuing it, or Redis lost it) holds its events a minute at most: the next request abandons it, saying why, and replays them", async () => {
    const [task] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 0, organizationId: 7 }]);
    const [{ id }] = (await db.$queryRaw<{ id: string }[]>`INSERT INTO task_events (task_id, kind, from_status, to_status, reason, actor) VALUES (${task}, 'REPROCESSED', 42, 30, 'r', 'test') RETURNING id::text`) as [{ id: string }];
    const deps = replayDeps(testConfig(prefix, env()), db, queue);
    const ask = () => requestReplay(deps, { selection: { kind: "events", eventIds: [id!] }, by: "erin", reason: "r" }, "cli");
    const first = await ask();
    // Its job is in the queue (no worker here takes it): the event is in a replay that has not finished.
    await expect(ask()).rejects.toThrow(/already in a replay that has not finished/);
    // The job is lost; just now, the request may still be about to add it: still refused.
    await queue.remove(first.jobId);
    await expect(ask()).rejects.toThrow(/already in a replay that has not finished/);
    // A minute later (the time written back), the next request abandons the first replay's rows and replays the event.
    await db.$executeRaw`UPDATE webhook_replays SET requested_at = requested_at - interval '61 seconds' WHERE replay_id = ${first.replayId}::bigint`;
    const second = await ask();
    expect(second).toMatchObject({ events: 1, alreadyPending: 0 });
    expect(await queue.getJobState(second.jobId)).toBe("waiting");
    expect(await db.$queryRaw`SELECT replay_id::text, abandoned_at IS NOT NULL AS abandoned, last_error FROM webhook_replays ORDER BY replay_id`).toEqual([
      { replay_id: first.replayId, abandoned: true, last_error: expect.stringMatching(/^its job is not in the queue/) },
      { replay_id: second.replayId, abandoned: false, last_error: null },
    ]);
  });

  it("a replay sends the events an organization was sent live — with the organization, workspace and external id they were written with — also of a task deleted or moved since; never to the task's new organization", async () => {
    await receiver.close();
    receiver = await startWebhookReceiver([7, 8]);
    const twoOrgs = () => ({ ...env(), WEBHOOKS_JSON: webhooksJson(receiver, [7, 8]) });
    // Written before the worker starts (its relay's cursor then starts after them): only the replay sends them.
    const [gone, moved] = await insertTasks(db, [
      { status: S.ToReview, ageSeconds: 0, organizationId: 7, workspaceId: 3, externalId: "gone-1" },
      { status: S.ToReview, ageSeconds: 0, organizationId: 7, workspaceId: 3, externalId: "moved-1" },
    ]);
    const ids = (await db.$queryRaw<{ id: string }[]>`
      INSERT INTO task_events (task_id, kind, from_status, to_status, reason, actor, created_at)
      SELECT t, 'REPROCESSED', 42, 30, 'r', 'test', timestamptz '2026-11-01T10:00:00Z' FROM unnest(${[gone, moved]}::int[]) AS t ORDER BY t RETURNING id::text`).map((r) => r.id);
    // The platform deletes one task and hands the other to organization 8 (a workspace moved, say).
    await db.$executeRaw`DELETE FROM tasks WHERE id = ${gone}`;
    await db.$executeRaw`UPDATE tasks SET organization_id = 8, workspace_id = 9, external_id = 'moved-elsewhere' WHERE id = ${moved}`;
    const config = testConfig(prefix, twoOrgs());
    watchdog = await startWatchdog(config, rules, createLogger({ level: "silent" }));
    const deps = replayDeps(config, db, queue);
    const range = (organization: number) => ({ kind: "range" as const, organizationId: organization, since: new Date("2026-11-01T00:00:00Z"), until: new Date("2026-11-02T00:00:00Z") });

    // Organization 8's range holds none of them: they were organization 7's.
    await expect(requestReplay(deps, { selection: range(8), by: "erin", reason: "r" }, "cli")).rejects.toThrow(/the selection has no events/);
    const byRange = await requestReplay(deps, { selection: range(7), by: "erin", reason: "r" }, "cli");
    expect(byRange).toMatchObject({ events: 2, organizationIds: [7] });
    await receiver.waitFor((r) => r.delivered.length >= 2);
    await expect.poll(async () => (await db.$queryRaw<{ n: number }[]>`SELECT count(delivered_at)::int AS n FROM webhook_replays`)[0]!.n, { timeout: 10_000 }).toBe(2);
    // By id too, the deleted task's event is found and goes to organization 7.
    const byId = await requestReplay(deps, { selection: { kind: "events", eventIds: ids }, by: "erin", reason: "r" }, "cli");
    expect(byId).toMatchObject({ events: 2, organizationIds: [7] });
    await receiver.waitFor((r) => r.delivered.length >= 4);
    const seen = receiver.delivered.map((d) => [d.organizationId, d.webhookId, d.body.data.organizationId, d.body.data.workspaceId, d.body.data.externalId, d.verified]);
    const expected = [
      [7, `evt_${ids[0]}`, 7, 3, "gone-1", true],
      [7, `evt_${ids[1]}`, 7, 3, "moved-1", true],
    ];
    expect(seen).toEqual([...expected, ...expected]);
  }, 60_000);
});
