// Redis unreachable or frozen while a client asks for a restart: the API answers 503 within 3 s,
// and when Redis is back nothing the client was told had failed is applied after all (no job, the
// task unchanged). The board's API and /readyz are bounded the same way.
import { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { TaskStatus as S } from "../../src/rules/status.js";
import { RESTART_PROCESSING_PATH } from "../../src/api/restart-processing.js";
import { createReprocessQueue } from "../../src/reprocess/reprocess-queue.js";
import { insertTasks, resetTables, testDb } from "../support/db.js";
import { testRedisUrl } from "../support/redis.js";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.js";
import { basic, BOARD_PASSWORD, BOARD_USER, ORG_7_TOKEN, sample, startApp, type RunningApp } from "./http-app.js";

const db = testDb();
let proxy: TcpProxy;
let app: RunningApp;
let direct: Redis;
let queue: ReturnType<typeof createReprocessQueue>;

beforeAll(async () => {
  const target = new URL(testRedisUrl());
  proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 6379) });
  app = await startApp({ REDIS_URL: proxy.url(testRedisUrl()) });
  // The test's own view of the queue, past the proxy.
  direct = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  queue = createReprocessQueue(direct, app.prefix);
});
afterAll(async () => {
  proxy.restore();
  await app.stop();
  await proxy.close();
  await queue.close();
  await direct.quit();
  await db.$disconnect();
});
beforeEach(async () => {
  testStartedAt = Date.now();
  await resetTables(db);
});

const restart = (taskId: number) => fetch(`${app.apiUrl}${RESTART_PROCESSING_PATH}?taskId=${taskId}`, { method: "PATCH", headers: { authorization: `Bearer ${ORG_7_TOKEN}` } });
const row = async (id: number) => (await db.$queryRaw<{ status: number; restart_count: number }[]>`SELECT status, restart_count FROM tasks WHERE id = ${id}`)[0];
/** Jobs of every state naming `taskId` (task ids restart at 1 after each reset; the prefix lives for the file, so ids are unique per test). */
const jobsFor = async (taskId: number) => (await queue.getJobs()).filter((j) => j?.data.taskId === taskId && j.timestamp >= testStartedAt);
let testStartedAt = 0;

/** After restore(): the app's own path to Redis works again, proven by a request that goes all the way through. */
async function provenRecovered(): Promise<void> {
  await expect.poll(async () => (await fetch(`${app.opsUrl}/readyz`)).status, { timeout: 15_000, interval: 100 }).toBe(200);
  const [probe] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 60, organizationId: 7 }]);
  let accepted: Response | undefined;
  await expect.poll(async () => (accepted = await restart(probe!)).status, { timeout: 10_000, interval: 200 }).toBe(202);
  const job = (await queue.getJob(accepted!.headers.get("x-job-id")!))!;
  await expect.poll(() => job.getState(), { timeout: 10_000, interval: 50 }).toBe("completed");
}

describe.each([
  ["unreachable (every connection reset)", () => proxy.cut()],
  ["frozen (connections open, nothing answered)", () => proxy.freeze()],
])("when Redis is %s", (_case, outage) => {
  it("PATCH restartprocessing answers 503 within 3 s, and when Redis returns no job exists and the task is unchanged", async () => {
    const [id] = await insertTasks(db, [{ status: S.ProcessingFailed, ageSeconds: 60, organizationId: 7 }]);
    const before = await row(id!);
    const unavailable = async () => sample(await (await fetch(`${app.opsUrl}/metrics`)).text(), "watchdog_reprocess_requests_total", { outcome: "unavailable" }) ?? 0;
    const unavailableBefore = await unavailable();
    outage();
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        const started = performance.now();
        const response = await restart(id!);
        const ms = performance.now() - started;
        expect(response.status).toBe(503);
        expect(response.headers.get("retry-after")).toBe("5");
        expect(response.headers.get("x-error")).toMatch(/Redis\) is unavailable; nothing was enqueued/);
        expect(ms).toBeLessThan(3000);
      }
    } finally {
      proxy.restore();
    }
    await provenRecovered();
    expect((await unavailable()) - unavailableBefore).toBe(3);
    expect(await jobsFor(id!)).toEqual([]);
    expect(await row(id!)).toEqual(before);
    const events = await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM task_events WHERE task_id = ${id}`;
    expect(events[0]!.n).toBe(0);
  });

  it("the board's API answers 503 within its bound instead of hanging, and /readyz says Redis is down", async () => {
    outage();
    try {
      const started = performance.now();
      const board = await fetch(`${app.opsUrl}/admin/queues/api/queues`, { headers: { authorization: basic(BOARD_USER, BOARD_PASSWORD) } });
      expect(board.status).toBe(503);
      expect(performance.now() - started).toBeLessThan(6000);
      // Readiness answers from a check at most a second old: it turns within that.
      await expect.poll(async () => (await fetch(`${app.opsUrl}/readyz`)).status, { timeout: 5000, interval: 100 }).toBe(503);
      const ready = await fetch(`${app.opsUrl}/readyz`);
      expect(((await ready.json()) as { checks: { redis: string } }).checks.redis).not.toBe("ok");
    } finally {
      proxy.restore();
    }
    await provenRecovered();
  });
});
