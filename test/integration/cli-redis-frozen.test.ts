// `watchdog sweep --wait` and `watchdog reprocess --wait` when Redis stops answering while they wait
// (a TCP proxy in front of the shared Redis that keeps connections open and forwards nothing): the
// command ends within its --timeout and a few seconds more, exit 1, one line naming Redis — not a
// process that waits for ever on connections it cannot close. The job stays queued (nothing lost).
import { Queue } from "bullmq";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { TaskStatus as S } from "../../src/rules/status.js";
import { REPROCESS_QUEUE, SWEEP_QUEUE } from "../../src/platform/queue-names.js";
import { insertTasks, resetTables, testDb } from "../support/db.js";
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
