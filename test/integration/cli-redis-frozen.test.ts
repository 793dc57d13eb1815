// `watchdog sweep --wait` and `watchdog reprocess --wait` when Redis stops answering while they wait
// (a TCP proxy in front of the shared Redis that keeps connections open and forwards nothing): the
// command ends within its --timeout and a few seconds more, exit 1, one line naming Redis — not a
// process that waits for ever on connections it cannot close. The job stays queued (nothing lost).
// `watchdog events replay` whose add meets a Redis that stopped answering: the same one line within
// seconds, and the replay's rows abandoned, not pending for a job that does not exist; `watchdog
// sweep --release` likewise, with no sweep queued and no audit record.
import { Queue } from "bullmq";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { TaskStatus as S } from "../../src/rules/status.js";
import { REPROCESS_QUEUE, SWEEP_QUEUE, WEBHOOK_REPLAYS_QUEUE } from "../../src/platform/queue-names.js";
import { holdTransaction, insertTasks, resetTables, testDb, waitForLockWaiter } from "../support/db.js";
import { startWebhookReceiver, webhooksJson } from "../support/webhook-receiver.js";
import { deletePrefix, testRedisUrl, uniquePrefix } from "../support/redis.js";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.js";
import { killStillRunning, runCli, workerEnv, type CliProcess } from "../support/worker-process.js";

const db = testDb();
let proxy: TcpProxy;
let prefix: string;
const children: CliProcess[] = [];
/** The command's own --timeout (PT2S) plus the time to give up on connections that do not answer. */
const BOUND_MS = 10_000;

beforeAll(async () => {
  const target = new URL(testRedisUrl());
  proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 6379) });
});
afterAll(async () => {
  await proxy.close();
  await db.$disconnect();
});
beforeEach(async () => {
  proxy.restore();
  prefix = uniquePrefix();
  await resetTables(db);
});
afterEach(async () => {
  killStillRunning(children);
  proxy.restore();
  await deletePrefix(prefix);
});

describe.each([
  ["sweep --wait", SWEEP_QUEUE, async () => ["sweep", "--wait", "--timeout", "PT2S"]],
  ["reprocess --wait", REPROCESS_QUEUE, async () => ["reprocess", "--task-id", String((await insertTasks(db, [{ status: S.ToReview, ageSeconds: 60 }]))[0]), "--wait", "--timeout", "PT2S"]],
])("`watchdog %s` with Redis frozen while it waits", (_name, queueName, args) => {
  it("exits 1 within its timeout and a few seconds, one line naming Redis; the job stays queued", async () => {
    const cli = runCli(await args(), workerEnv(prefix, { REDIS_URL: proxy.url(testRedisUrl()) }));
    children.push(cli);
    const queue = new Queue(queueName, { connection: { url: testRedisUrl() }, prefix });
    try {
      // No worker runs: the job waits. Once it is queued, Redis stops answering the command.
      await expect.poll(async () => (await queue.getJobs(["waiting"])).length, { timeout: 20_000, interval: 50 }).toBe(1);
      proxy.freeze();
      const frozenAt = Date.now();
      const cut = setTimeout(() => cli.proc.kill("SIGKILL"), BOUND_MS);
      const exit = await cli.exited.finally(() => clearTimeout(cut));
      expect({ exit, elapsedUnderBound: Date.now() - frozenAt < BOUND_MS }, cli.stderr()).toEqual({ exit: { code: 1, signal: null }, elapsedUnderBound: true });
      const lines = cli.stderr().trim().split("\n");
      expect(lines, cli.stderr()).toHaveLength(1);
      expect(lines[0]).toMatch(/^watchdog: .*Redis/);
      proxy.restore();
      expect((await queue.getJobs(["waiting"])).length).toBe(1);
    } finally {
      await queue.close();
    }
  }, 40_000);
});

describe("`watchdog reprocess --wait` with Redis frozen between its check and its queue's first connection", () => {
  it("exits 1 within seconds, one line naming Redis and that nothing was queued; nothing is queued once Redis answers again", async () => {
    const [task] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 60 }]);
    // The check's connection answers; the command's own connections (the queue's and its events') meet a frozen server.
    proxy.freezeAtConnection(2);
    const startedAt = Date.now();
    const cli = runCli(["reprocess", "--task-id", String(task), "--wait", "--timeout", "PT2S"], workerEnv(prefix, { REDIS_URL: proxy.url(testRedisUrl()) }));
    children.push(cli);
    const cut = setTimeout(() => cli.proc.kill("SIGKILL"), BOUND_MS + 5_000);
    const exit = await cli.exited.finally(() => clearTimeout(cut));
    expect({ exit, elapsedUnderBound: Date.now() - startedAt < BOUND_MS + 5_000 }, cli.stderr()).toEqual({ exit: { code: 1, signal: null }, elapsedUnderBound: true });
    expect(proxy.forwarded).toBeGreaterThanOrEqual(2);
    const lines = cli.stderr().trim().split("\n");
    expect(lines, cli.stderr()).toHaveLength(1);
    expect(lines[0]).toMatch(/^watchdog: .*Redis.*nothing was queued/);
    proxy.restore();
    const queue = new Queue(REPROCESS_QUEUE, { connection: { url: testRedisUrl() }, prefix });
    try {
      expect(await queue.getJobs(["waiting", "active", "completed", "failed", "delayed"])).toEqual([]);
    } finally {
      await queue.close();
    }
  }, 40_000);
});

describe("`watchdog events replay` with Redis frozen when it queues the replay", () => {
  it("exits 1 within seconds, one line naming Redis; the replay's rows are abandoned and no job runs when Redis is back", async () => {
    const receiver = await startWebhookReceiver([7]);
    const [task] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 0, organizationId: 7 }]);
    const [event] = await db.$queryRaw<{ id: string }[]>`INSERT INTO task_events (task_id, kind, from_status, to_status, reason, actor) VALUES (${task}, 'REPROCESSED', 42, 30, 'again', 'test') RETURNING id::text`;
    await db.$executeRaw`INSERT INTO webhook_given_up (event_id, organization_id, attempts, last_error) VALUES (${event!.id}::bigint, 7, 12, 'answered 503')`;
    // The replay's lock held by another session: the command, connected to Redis, waits on it; Redis freezes meanwhile.
    const lock = await holdTransaction("SELECT pg_advisory_xact_lock(7000021)");
    const queue = new Queue(WEBHOOK_REPLAYS_QUEUE, { connection: { url: testRedisUrl() }, prefix });
    try {
      const cli = runCli(["events", "replay", "--given-up", "--by", "alice", "--reason", "receiver fixed"], workerEnv(prefix, { REDIS_URL: proxy.url(testRedisUrl()), WEBHOOKS_JSON: webhooksJson(receiver, [7]) }));
      children.push(cli);
      await waitForLockWaiter(db, 20_000);
      proxy.freeze();
      const frozenAt = Date.now();
      await lock.release();
      const cut = setTimeout(() => cli.proc.kill("SIGKILL"), BOUND_MS);
      const exit = await cli.exited.finally(() => clearTimeout(cut));
      expect({ exit, elapsedUnderBound: Date.now() - frozenAt < BOUND_MS }, cli.stderr()).toEqual({ exit: { code: 1, signal: null }, elapsedUnderBound: true });
      const lines = cli.stderr().trim().split("\n");
      expect(lines, cli.stderr()).toHaveLength(1);
      expect(lines[0]).toMatch(/^watchdog: .*Redis/);
      proxy.restore();
      const [replay] = await db.$queryRaw<{ id: string }[]>`SELECT id::text FROM operator_actions WHERE action = 'replay'`;
      expect(await db.$queryRaw`SELECT abandoned_at IS NOT NULL AS abandoned, last_error FROM webhook_replays`).toEqual([{ abandoned: true, last_error: "could not be queued (Redis)" }]);
      expect(await queue.getJob(`replay-${replay!.id}`)).toBeUndefined();
    } finally {
      await lock.release().catch(() => undefined);
      await queue.close();
      await receiver.close();
    }
  }, 40_000);
});

describe("`watchdog sweep --release` with Redis frozen when it queues the sweep", () => {
  it("exits 1 within seconds, one line naming Redis; no sweep queued, no audit record", async () => {
    // The audit table held by another session: the command, connected to Redis, waits to write its record; Redis freezes meanwhile.
    const lock = await holdTransaction("LOCK TABLE operator_actions IN EXCLUSIVE MODE");
    const queue = new Queue(SWEEP_QUEUE, { connection: { url: testRedisUrl() }, prefix });
    try {
      const cli = runCli(["sweep", "--release", "ProcessingInProgress", "--by", "alice", "--reason", "checked"], workerEnv(prefix, { REDIS_URL: proxy.url(testRedisUrl()) }));
      children.push(cli);
      await waitForLockWaiter(db, 20_000);
      proxy.freeze();
      const frozenAt = Date.now();
      await lock.release();
      const cut = setTimeout(() => cli.proc.kill("SIGKILL"), BOUND_MS);
      const exit = await cli.exited.finally(() => clearTimeout(cut));
      expect({ exit, elapsedUnderBound: Date.now() - frozenAt < BOUND_MS }, cli.stderr()).toEqual({ exit: { code: 1, signal: null }, elapsedUnderBound: true });
      const lines = cli.stderr().trim().split("\n");
      expect(lines, cli.stderr()).toHaveLength(1);
      expect(lines[0]).toMatch(/^watchdog: .*Redis/);
      proxy.restore();
      expect(await queue.getJobs(["waiting", "active", "completed", "failed", "delayed"])).toEqual([]);
      expect(await db.$queryRaw`SELECT action FROM operator_actions`).toEqual([]);
    } finally {
      await lock.release().catch(() => undefined);
      await queue.close();
    }
  }, 40_000);
});
