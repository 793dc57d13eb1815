// Hostile and broken job data on both queues, generated from a seeded PRNG: wrong types,
// unknown and misspelt fields, NUL and control characters, huge strings, arrays, nulls, nested
// objects, out-of-range ids, unknown job names, ids that match nothing. Each job must fail once —
// `BadRequest:` or `NotFound:`, an UnrecoverableError, although retries were allowed — and the
// database must be exactly as before: no task changed, no event written. Stuck tasks wait in the
// table, so a malformed sweep job that ran a real sweep would show at once.
import { Queue, type Job, type Worker } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildRules } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { REPROCESS_JOB, SWEEP_JOB, SWEEP_QUEUE } from "../../src/platform/queue-names.js";
import { REPROCESS_ATTEMPTS, REPROCESS_JOB_OPTIONS } from "../../src/reprocess/reprocess-queue.js";
import type { ReprocessJobOutcome } from "../../src/reprocess/reprocess-worker.js";
import { createSweepWorker } from "../../src/sweep/sweep-worker.js";
import { insertTasks, resetTables, testDb } from "../support/db.js";
import { reprocessHarness, type ReprocessHarness } from "../support/reprocess-harness.js";
import { mulberry32 } from "../support/prng.js";

const REPROCESS_JOBS = 1000;
const SWEEP_JOBS = 500;
const SEED = 20261201;

/** The seeded generator with the helpers this suite draws with. */
function prng(seed: number) {
  const next = mulberry32(seed);
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  const pick = <T>(items: readonly T[]): T => items[int(0, items.length - 1)]!;
  return { next, int, pick };
}
type Rng = ReturnType<typeof prng>;

const CONTROL = ["\u0000", "\u0001", "\u0007", "\b", "\t", "\n", "\r", "\u001b", "\u001f", "\u007f"];
const junk = (r: Rng): unknown =>
  r.pick<() => unknown>([
    () => r.int(-1e9, 1e9) + r.next(),
    () => String(r.int(1, 20)),
    () => r.next() < 0.5,
    () => null,
    () => [],
    () => [r.int(1, 20)],
    () => ({}),
    () => ({ id: r.int(1, 20) }),
    () => ({ nested: { deeper: [1, { taskId: 1 }] } }),
    () => "x".repeat(r.int(1001, 100_000)),
    () => CONTROL.map((c) => `a${c}b`).join(""),
  ])();
/** A control character strictly inside `base` (at either end, a trim would take it off: that is normalising, not malformed). */
const withControl = (r: Rng, base: string) => {
  const at = r.int(1, base.length - 1);
  return `${base.slice(0, at)}${r.pick(CONTROL)}${base.slice(at)}`;
};

/** Tasks that exist: ids 1..EXISTING, external ids EXT-1..EXT-n in organization 1. */
const EXISTING = 30;
const existingId = (r: Rng) => r.int(1, EXISTING);

/** A malformed reprocess job: its name, its data, and the prefix its failure must have. */
function reprocessCase(r: Rng): { name: string; data: unknown; expect: "BadRequest" | "NotFound" } {
  const bad = (data: unknown) => ({ name: REPROCESS_JOB, data, expect: "BadRequest" as const });
  return r.pick<() => ReturnType<typeof reprocessCase>>([
    // not an object at all
    () => bad(r.pick<unknown>([null, 42, "reprocess 1", true, [existingId(r)], [{ taskId: existingId(r) }]])),
    // a wrong type for a field, next to a real task's id where that makes the request otherwise valid
    () => bad({ taskId: junk(r) === null ? "1" : junk(r) }),
    () => bad({ externalId: r.pick<unknown>([r.int(1, 9), true, [], {}, ["EXT-1"]]), organizationId: 1 }),
    () => bad({ externalId: `EXT-${existingId(r)}`, organizationId: r.pick<unknown>(["1", true, [], {}, 1.5, 0, -1, 2 ** 31]) }),
    () => bad({ taskId: existingId(r), requestedBy: r.pick<unknown>([5, true, [], {}, "", "   "]) }),
    () => bad({ taskId: existingId(r), force: r.pick<unknown>(["true", 1, 0, "yes", [], {}]) }),
    () => bad({ taskId: existingId(r), httpRequestId: r.pick<unknown>([1, [], {}, "", "r".repeat(201)]) }),
    // out of range or not whole
    () => bad({ taskId: r.pick([0, -1, -r.int(1, 1e9), 2 ** 31, 2 ** 53, 1.5, existingId(r) + 0.25]) }),
    // unknown and misspelt fields (with a real task's id: one ignored field must not let it through)
    () => bad({ taskId: existingId(r), [r.pick(["taskID", "task_id", "TaskId", "organisationId", "requestedby", "Force", "dryRun", "confirm", "__proto__x", "constructor"])]: r.int(0, 9) }),
    () => bad({ [r.pick(["taskID", "id", "task", "externalID", "external_id"])]: existingId(r) }),
    () => bad(Object.fromEntries(Array.from({ length: r.int(2, 50) }, (_, i) => [`field${i}`, i]))),
    () => bad({ taskId: existingId(r), [`k${"y".repeat(r.int(50, 5000))}`]: 1 }),
    // NUL and control characters
    () => bad({ externalId: withControl({ ...r, pick: () => "\u0000" } as Rng, `EXT-${existingId(r)}`), organizationId: 1 }),
    () => bad({ taskId: existingId(r), requestedBy: withControl(r, "alice@example.com") }),
    () => bad({ taskId: existingId(r), httpRequestId: withControl(r, "req-1234") }),
    // huge strings
    () => bad({ externalId: "E".repeat(r.int(1001, 200_000)), organizationId: 1 }),
    () => bad({ taskId: existingId(r), requestedBy: "a".repeat(r.int(201, 50_000)) }),
    // shapes that name no single task
    () => bad({}),
    () => bad({ taskId: null, externalId: null, organizationId: r.pick([null, 1]) }),
    () => bad({ externalId: `EXT-${existingId(r)}` }),
    () => bad({ taskId: existingId(r), externalId: `EXT-${existingId(r)}`, organizationId: 1 }),
    () => bad({ requestedBy: "alice", force: true }),
    // nested objects
    () => bad({ taskId: { $gt: 0 } }),
    () => bad({ taskId: existingId(r), requestedBy: { name: "alice" } }),
    // unknown job names (with valid data: the name alone must refuse it)
    () => ({ name: r.pick(["restart", "Reprocess", "reprocess ", "", "sweep", "x".repeat(r.int(1, 500)), "reprocess\u0000"]), data: { taskId: existingId(r) }, expect: "BadRequest" }),
    // well-formed, matching nothing (or another organization's task)
    () => ({ name: REPROCESS_JOB, data: { taskId: r.int(1_000_000, 2 ** 31 - 1) }, expect: "NotFound" }),
    () => ({ name: REPROCESS_JOB, data: { taskId: existingId(r), organizationId: r.int(2, 1000) }, expect: "NotFound" }),
    () => ({ name: REPROCESS_JOB, data: { externalId: `EXT-${existingId(r)}`, organizationId: r.int(2, 1000) }, expect: "NotFound" }),
    () => ({ name: REPROCESS_JOB, data: { externalId: `NOPE-${r.int(1, 1e6)}`, organizationId: 1, force: true }, expect: "NotFound" }),
  ])();
}

function sweepCase(r: Rng): { name: string; data: unknown } {
  const bad = (data: unknown) => ({ name: SWEEP_JOB, data });
  return r.pick<() => ReturnType<typeof sweepCase>>([
    () => bad(r.pick<unknown>([null, 42, "dry-run", true, [true], [{ dryRun: true }]])),
    () => bad({ [r.pick(["dryrun", "dry_run", "dry-run", "DryRun", "preview", "dry"])]: true }),
    () => bad({ dryRun: r.pick<unknown>(["true", 1, 0, null, [], {}, [true], "yes"]) }),
    () => bad({ dryRun: true, [r.pick(["force", "release_by", "releasedby", "batchSize", "rules"])]: junk(r) }),
    () => bad({ release: [r.pick<unknown>(["ProcessingInProgress", 41])] }),
    () => bad({ releasedBy: "ops:carol" }),
    () => bad({ release: r.pick<unknown>([[], "ProcessingInProgress", 41, {}, [null], [[41]], Array.from({ length: 101 }, () => 41)]), releasedBy: "ops:carol" }),
    () => bad({ release: [r.pick<unknown>(["NoSuchStatus", 99, "ToReview", 50, "x".repeat(200), -1, 1.5])], releasedBy: "ops:carol" }),
    () => bad({ release: ["ProcessingInProgress"], releasedBy: r.pick<unknown>([withControl(r, "ops:carol"), "", "  ", "n".repeat(r.int(201, 10_000)), 7, [], {}]) }),
    () => bad({ dryRun: { value: true } }),
    () => bad(Object.fromEntries(Array.from({ length: r.int(2, 30) }, (_, i) => [`opt${i}`, i % 2 === 0]))),
    () => ({ name: r.pick(["Sweep", "sweep ", "run", "", "reprocess", "s".repeat(r.int(1, 5000))]), data: { dryRun: true } }),
  ])();
}

const db = testDb();
let h: ReprocessHarness;
let sweepQueue: Queue;
const sweepWorkers: Worker[] = [];

beforeAll(async () => {
  await resetTables(db);
  await insertTasks(
    db,
    Array.from({ length: EXISTING }, (_, i) => ({
      organizationId: 1,
      externalId: `EXT-${i + 1}`,
      // Every third is stuck (a real sweep would revert it); the rest are under review.
      status: i % 3 === 0 ? S.ProcessingInProgress : S.ToReview,
      ageSeconds: i % 3 === 0 ? 10 * 3600 : 60,
      edits: { i },
    })),
  );
  h = await reprocessHarness();
  sweepQueue = new Queue(SWEEP_QUEUE, { connection: h.connection, prefix: h.prefix });
});
afterAll(async () => {
  await Promise.all(sweepWorkers.map((w) => w.close()));
  await sweepQueue.close();
  await h.close();
  await db.$disconnect();
});

async function snapshot() {
  const tasks = await db.$queryRaw<unknown[]>`SELECT id, status, previous_status, status_changed_at, restart_count, edits, warning, location::text FROM tasks ORDER BY id`;
  const [{ events }] = (await db.$queryRaw<{ events: number }[]>`SELECT count(*)::int AS events FROM task_events`) as [{ events: number }];
  return { tasks, events };
}

async function allFailed(queue: Queue, count: number): Promise<Job[]> {
  await expect.poll(async () => (await queue.getJobCounts("failed")).failed, { timeout: 25_000, interval: 100 }).toBe(count);
  expect(await queue.getJobCounts("waiting", "active", "delayed", "completed", "prioritized")).toEqual({ waiting: 0, active: 0, delayed: 0, completed: 0, prioritized: 0 });
  return queue.getJobs(["failed"], 0, -1);
}

describe(`${REPROCESS_JOBS} malformed reprocess jobs and ${SWEEP_JOBS} malformed sweep jobs (seed ${SEED})`, () => {
  it("each fails once with BadRequest: or NotFound:, none retried, and the database is exactly as before", async () => {
    const before = await snapshot();
    const r = prng(SEED);
    const reprocessCases = Array.from({ length: REPROCESS_JOBS }, () => reprocessCase(r));
    const sweepCases = Array.from({ length: SWEEP_JOBS }, () => sweepCase(r));
    expect(new Set(reprocessCases.map((c) => c.expect))).toEqual(new Set(["BadRequest", "NotFound"]));

    const started = performance.now();
    const outcomes: ReprocessJobOutcome[] = [];
    const reprocessJobs = await h.queue.addBulk(reprocessCases.map((c) => ({ name: c.name as typeof REPROCESS_JOB, data: c.data as never, opts: REPROCESS_JOB_OPTIONS })));
    // Sweep jobs may be retried (3 attempts) — none may use it.
    const sweepJobs = await sweepQueue.addBulk(sweepCases.map((c) => ({ name: c.name, data: c.data, opts: { attempts: 3, backoff: { type: "fixed", delay: 50 } } })));
    h.startWorker(db, 50, { onOutcome: (o) => outcomes.push(o) });
    const rules = buildRules();
    for (let i = 0; i < 4; i++) {
      sweepWorkers.push(createSweepWorker({ db, rules, batchSize: 1000, logger: h.logger, connection: h.connection, prefix: h.prefix, stopping: () => false }));
    }

    const failedReprocess = await allFailed(h.queue as unknown as Queue, REPROCESS_JOBS);
    const failedSweeps = await allFailed(sweepQueue, SWEEP_JOBS);
    const elapsedMs = performance.now() - started;

    const expected = new Map(reprocessJobs.map((job, i) => [job.id, reprocessCases[i]!.expect]));
    for (const job of failedReprocess) {
      expect(job.attemptsMade, `reprocess job ${job.id}: ${JSON.stringify(job.data).slice(0, 200)}`).toBe(1);
      expect(job.opts.attempts).toBe(REPROCESS_ATTEMPTS);
      expect(job.failedReason.startsWith(`${expected.get(job.id)}: `), `job ${job.id} ${JSON.stringify(job.data).slice(0, 200)} → ${job.failedReason}`).toBe(true);
      // The reason is bounded (it is stored with the job and shown on the board), however large the input.
      expect(job.failedReason.length).toBeLessThan(1000);
    }
    for (const job of failedSweeps) {
      expect(job.attemptsMade, `sweep job ${job.id}: ${JSON.stringify(job.data).slice(0, 200)}`).toBe(1);
      expect(job.failedReason.startsWith("BadRequest: "), `sweep job ${job.id} ${JSON.stringify(job.data).slice(0, 200)} → ${job.failedReason}`).toBe(true);
      expect(job.failedReason.length).toBeLessThan(1000);
    }
    expect(sweepJobs).toHaveLength(SWEEP_JOBS);
    expect(outcomes.filter((o) => o === "bad_request" || o === "not_found")).toHaveLength(REPROCESS_JOBS);
    expect(await snapshot()).toEqual(before);

    const notFound = reprocessCases.filter((c) => c.expect === "NotFound").length;
    console.log(`malformed jobs: ${REPROCESS_JOBS} reprocess (${REPROCESS_JOBS - notFound} BadRequest, ${notFound} NotFound) + ${SWEEP_JOBS} sweep (BadRequest), all failed once, in ${Math.round(elapsedMs)} ms`);
  });
});
