// Hostile job data on the webhook replays queue (task-watchdog-webhook-replays). A replay job's
// data is one field, {"replayId": "<digits>"}; anything else must fail once as a BadRequest that
// names the field, never retried, changing nothing, and the worker must go on answering.
import { Queue, type Job } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { REPLAY_JOB, WEBHOOK_REPLAYS_QUEUE } from "../../src/platform/queue-names.js";
import { requestReplay, REPLAY_JOB_ATTEMPTS } from "../../src/outbox/replay.js";
import { runSweep } from "../../src/sweep/run-sweep.js";
import { buildRules } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { insertTasks, resetTables, testDb } from "../support/db.js";
import { mulberry32 } from "../support/prng.js";
import { deletePrefix, testRedisUrl, uniquePrefix } from "../support/redis.js";
import { startWebhookReceiver, webhooksJson, type WebhookReceiver } from "../support/webhook-receiver.js";
import { killStillRunning, runCli, workerEnv, type CliProcess } from "../support/worker-process.js";

const db = testDb();
let prefix: string;
let receiver: WebhookReceiver;
let queue: Queue;
const children: CliProcess[] = [];

beforeEach(async () => {
  await resetTables(db);
  prefix = uniquePrefix();
  receiver = await startWebhookReceiver([7]);
  queue = new Queue(WEBHOOK_REPLAYS_QUEUE, { connection: { url: testRedisUrl() }, prefix });
});
afterEach(async () => {
  killStillRunning(children);
  await queue.close();
  await receiver.close();
  await deletePrefix(prefix);
});
afterAll(() => db.$disconnect());

/** GET /healthz, given `timeoutMs` to answer: the status, or the reason it did not. */
async function health(opsUrl: string, timeoutMs: number): Promise<number | string> {
  try {
    return (await fetch(new URL("/healthz", opsUrl), { signal: AbortSignal.timeout(timeoutMs) })).status;
  } catch (error) {
    return `no answer within ${timeoutMs} ms (${(error as Error).name})`;
  }
}

/** The whole worker, as deployed, with webhooks configured (so the replay worker runs); retries fast. */
async function startWorker(): Promise<{ worker: CliProcess; ops: string }> {
  const worker = runCli(["start"], workerEnv(prefix, {
    WEBHOOKS_JSON: webhooksJson(receiver, [7]),
    WEBHOOK_RETRY_DELAY: "PT0.05S",
    WEBHOOK_RETRY_MAX_DELAY: "PT0.1S",
  }));
  children.push(worker);
  const { ops } = (await worker.waitForLog("watchdog started")) as { ops: string };
  return { worker, ops };
}

describe("a 2 MB replay job", () => {
  // The hostile probe's job: its failure message once carried the whole data, and scrubbing that
  // log line took about an hour of CPU, the worker deaf to /healthz and SIGTERM meanwhile.
  it("fails once with a short reason, and the worker answers /healthz throughout and stops on SIGTERM", async () => {
    const { worker, ops } = await startWorker();
    const job = await queue.add(REPLAY_JOB, { replayId: "x", pad: "p".repeat(2_000_000) }, { attempts: 5 });
    const answers: (number | string)[] = [];
    while ((await queue.getJobCounts("failed")).failed === 0 && answers.length < 100) answers.push(await health(ops, 5000));
    answers.push(await health(ops, 5000));
    expect(answers.every((a) => a === 200), answers.filter((a) => a !== 200).join("; ")).toBe(true);

    const failed = (await queue.getJob(job.id!))!;
    expect(failed.attemptsMade).toBe(1);
    expect(failed.failedReason).toMatch(/^BadRequest: /);
    expect(failed.failedReason.length).toBeLessThan(1000);
    const line = await worker.waitForLog("webhook replay attempt failed");
    expect(JSON.stringify(line).length).toBeLessThan(2000);

    worker.proc.kill("SIGTERM");
    expect(await worker.exited).toEqual({ code: 0, signal: null });
  }, 60_000);
});

const SEED = 20261207;
const JOBS = 300;

/** A malformed replay job: its name, its data, the prefix its failure must have. `id` is a real replay's, still pending. */
function replayCase(next: () => number, id: string): { name: string; data: unknown; expect: "BadRequest" | "NotFound" } {
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  const pick = <T>(items: readonly T[]): T => items[int(0, items.length - 1)]!;
  const bad = (data: unknown) => ({ name: REPLAY_JOB, data, expect: "BadRequest" as const });
  return pick<() => ReturnType<typeof replayCase>>([
    // not an object
    () => bad(pick<unknown>([null, 42, `replay ${id}`, true, [id], [{ replayId: id }]])),
    // a wrong type, or no replayId at all
    () => bad({ replayId: pick<unknown>([Number(id), true, [], [id], {}, { id }, null, 1.5]) }),
    () => bad({}),
    // not a replay's id: out of bigint's range, not whole, not digits, padded, huge
    () => bad({ replayId: pick(["99999999999999999999999", "9223372036854775808", "0", "-1", "1.5", "01", "1e3", "evt_1", "", " 1", `${id} `, "x", "1\u0000", "NaN"]) }),
    () => bad({ replayId: "9".repeat(int(20, 100_000)) }),
    // unknown and misspelt fields, next to the real replay's id: one ignored field must not let it through
    () => bad({ replayId: id, [pick(["foo", "replayID", "replay_id", "ReplayId", "force", "events", "__proto__x", "constructor"])]: int(0, 9) }),
    () => bad({ [pick(["replayID", "replay_id", "id", "replay"])]: id }),
    () => bad(Object.fromEntries(Array.from({ length: int(2, 50) }, (_, i) => [`field${i}`, i]))),
    () => bad({ replayId: id, [`k${"y".repeat(int(50, 5000))}`]: 1 }),
    // unknown job names, with the real replay's data: the name alone must refuse it
    () => ({ name: pick(["Replay", "replay ", "", "sweep", "reprocess", "x".repeat(int(1, 500)), "replay\u0000"]), data: { replayId: id }, expect: "BadRequest" }),
    // well-formed, matching no replay
    () => ({ name: REPLAY_JOB, data: { replayId: String(int(1_000_000, 2 ** 31)) }, expect: "NotFound" }),
  ])();
}

/** A replay of one event of organization 7, its rows written and its job taken off the queue: pending, for a malformed job to touch. */
async function pendingReplay(): Promise<string> {
  const rules = buildRules();
  await insertTasks(db, [{ status: S.ProcessingInProgress, ageSeconds: 5 * 3600, organizationId: 7 }]);
  await runSweep(db, rules, { sweepId: "sweep-replay-job-data", dryRun: false, batchSize: 100 });
  const eventIds = (await db.$queryRaw<{ id: string }[]>`SELECT id::text FROM task_events`).map((r) => r.id);
  const outcome = await requestReplay({ db, queue, organizationIds: async () => [7], attempts: REPLAY_JOB_ATTEMPTS }, { selection: { kind: "events", eventIds }, by: "alice", reason: "a test" }, "cli");
  await queue.remove(outcome.jobId);
  return outcome.replayId;
}

const snapshot = async () => ({
  replays: await db.$queryRaw<unknown[]>`SELECT replay_id::text, event_id::text, delivered_at, abandoned_at, attempts, last_error FROM webhook_replays ORDER BY replay_id, event_id`,
  actions: await db.$queryRaw<unknown[]>`SELECT id::text, action, actor FROM operator_actions ORDER BY id`,
});

describe(`${JOBS} malformed replay jobs (seed ${SEED})`, () => {
  it("each fails once with BadRequest: or NotFound:, none retried, the database as before, the worker still answering", async () => {
    const id = await pendingReplay();
    const before = await snapshot();
    const next = mulberry32(SEED);
    const cases = Array.from({ length: JOBS }, () => replayCase(next, id));
    expect(new Set(cases.map((c) => c.expect))).toEqual(new Set(["BadRequest", "NotFound"]));
    const jobs = await queue.addBulk(cases.map((c) => ({ name: c.name, data: c.data, opts: { attempts: 5, backoff: { type: "replay" } } })));
    const expected = new Map(jobs.map((job, i) => [job.id, cases[i]!]));

    const { worker, ops } = await startWorker();
    await expect.poll(async () => (await queue.getJobCounts("failed")).failed, { timeout: 25_000, interval: 100 }).toBe(JOBS);
    expect(await queue.getJobCounts("waiting", "active", "delayed", "completed")).toEqual({ waiting: 0, active: 0, delayed: 0, completed: 0 });
    for (const job of (await queue.getJobs(["failed"], 0, -1)) as Job[]) {
      const c = expected.get(job.id)!;
      const what = `job ${job.id} ${JSON.stringify(c.name).slice(0, 100)} ${JSON.stringify(c.data).slice(0, 200)} → ${job.failedReason.slice(0, 300)}`;
      expect(job.attemptsMade, what).toBe(1);
      expect(job.failedReason.startsWith(`${c.expect}: `), what).toBe(true);
      expect(job.failedReason.length, what).toBeLessThan(1000);
    }
    expect(await snapshot()).toEqual(before);
    expect(await health(ops, 5000)).toBe(200);
    worker.proc.kill("SIGTERM");
    expect(await worker.exited).toEqual({ code: 0, signal: null });
  }, 60_000);

  it.each([
    [{ replayId: "99999999999999999999999" }, `BadRequest: replayId must be a replay's id, a whole number from 1 to 9223372036854775807 written as a string such as "42", got the string "99999999999999999999999"`],
    [{ replayId: "424243", foo: 1 }, 'BadRequest: unknown field "foo"; allowed: replayId (names are case-sensitive)'],
    [{ replayId: 424243 }, `BadRequest: replayId must be a replay's id, a whole number from 1 to 9223372036854775807 written as a string such as "42", got number 424243`],
    [{}, `BadRequest: replayId is missing; it must be a replay's id, a whole number from 1 to 9223372036854775807 written as a string such as "42"`],
    [[], 'BadRequest: job data must be an object such as {"replayId": "42"}, got an array'],
  ])("%j fails once: %s", async (data, reason) => {
    const { worker } = await startWorker();
    const job = await queue.add(REPLAY_JOB, data as never, { attempts: 5, backoff: { type: "replay" } });
    await expect.poll(async () => (await queue.getJobCounts("failed")).failed, { timeout: 10_000, interval: 50 }).toBe(1);
    const failed = (await queue.getJob(job.id!))!;
    expect({ reason: failed.failedReason, attempts: failed.attemptsMade }).toEqual({ reason, attempts: 1 });
    worker.proc.kill("SIGTERM");
    expect(await worker.exited).toEqual({ code: 0, signal: null });
  }, 30_000);
});

/** Adds a replay job, then overwrites its stored data with `text` (not JSON, or JSON too deep to stringify), before any worker runs. */
async function addRaw(text: string): Promise<string> {
  const job = await queue.add(REPLAY_JOB, { replayId: "1" }, { attempts: 5, backoff: { type: "replay" } });
  const raw = new Redis(testRedisUrl());
  try {
    await raw.hset(`${prefix}:${WEBHOOK_REPLAYS_QUEUE}:${job.id}`, "data", text);
  } finally {
    await raw.quit();
  }
  return job.id!;
}

/** The job's hash as stored (Queue.getJob would parse the data, and fail on what is not JSON). */
async function stored(id: string): Promise<Record<string, string>> {
  const raw = new Redis(testRedisUrl());
  try {
    return await raw.hgetall(`${prefix}:${WEBHOOK_REPLAYS_QUEUE}:${id}`);
  } finally {
    await raw.quit();
  }
}

const DEPTH = 200_000;
const nested = (open: string, close: string) => `${open.repeat(DEPTH)}${close.repeat(DEPTH)}`;

describe("replay job data that is not JSON, or nested 200,000 levels", () => {
  // Each text is made with the id of a real replay still pending: a job let through would send it.
  it.each<[string, (id: string) => string, RegExp]>([
    ["{taskId: 1", () => "{taskId: 1", /^BadRequest: job data is not JSON \(.*; it begins "\{taskId: 1"\): send a JSON object such as \{"replayId": "42"\}$/],
    ["a replay's data, cut short", (id) => `{"replayId": "${id}"`, /^BadRequest: job data is not JSON \(.*\): send a JSON object such as \{"replayId": "42"\}$/],
    ["an array nested 200,000 levels", () => nested("[", "]"), /^BadRequest: job data must be an object such as \{"replayId": "42"\}, got an array$/],
    ["a replayId nested 200,000 levels", () => `{"replayId":${nested("[", "]")}}`, /^BadRequest: replayId must be a replay's id, .*, got an array$/],
    ["a real replayId beside a field nested 200,000 levels", (id) => `{"replayId":"${id}","x":${nested("[", "]")}}`, /^BadRequest: unknown field "x"; allowed: replayId/],
  ])("%s: fails once as a BadRequest, none stays active, nothing changes, the worker answers", async (_label, text, reason) => {
    const id = await pendingReplay();
    const before = await snapshot();
    const jobId = await addRaw(text(id));
    const { worker, ops } = await startWorker();
    await expect.poll(async () => (await queue.getJobCounts("failed")).failed, { timeout: 10_000, interval: 50 }).toBe(1);
    expect(await queue.getJobCounts("active", "waiting", "delayed", "completed")).toEqual({ active: 0, waiting: 0, delayed: 0, completed: 0 });
    expect(await stored(jobId)).toMatchObject({ failedReason: expect.stringMatching(reason), atm: "1" });
    expect(await snapshot()).toEqual(before);
    expect(await health(ops, 5000)).toBe(200);
    worker.proc.kill("SIGTERM");
    expect(await worker.exited).toEqual({ code: 0, signal: null });
  }, 30_000);
});
