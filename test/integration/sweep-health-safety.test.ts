// /health/sweeps beyond overdue: not OK while the last sweep held a status (too many stuck at
// once) or a pause is in force, naming each, on every replica. Holds are read from what the last
// sweep recorded in Redis; pauses from PostgreSQL.
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { pauseSweeps } from "../../src/sweep/sql/pause-sweeps.js";
import { lastSweepHeldKey, lastSweepHeldStartedKey, lastSweepKey, readLastSweepCompletedMs, readLastSweepHeld, recordSweepCompleted, redisNowMs } from "../../src/sweep/last-sweep.js";
import { resetTables, testDb } from "../support/db.js";
import { testRedisUrl } from "../support/redis.js";
import { startApp, type RunningApp } from "./http-app.js";

const db = testDb();
let redis: Redis;
const apps: RunningApp[] = [];

beforeAll(async () => {
  await resetTables(db);
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
});
afterEach(async () => {
  for (const a of apps.splice(0)) await a.stop();
  await resetTables(db);
});
afterAll(async () => {
  await redis.quit();
  await db.$disconnect();
});

async function app(env: Record<string, string> = {}, prefix?: string) {
  const started = await startApp(env, prefix ? { prefix } : {});
  apps.push(started);
  return started;
}

async function health(a: RunningApp) {
  const response = await fetch(`${a.opsUrl}/health/sweeps`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function lastSweepWas(prefix: string, secondsAgo: number) {
  await redis.set(lastSweepKey(prefix), String((await redisNowMs(redis)) - secondsAgo * 1000));
}

describe("when the last sweep held a status, or a pause is in force", () => {
  it("then /health/sweeps is 503 naming what is held and what is paused, on every replica; overdue comes first", async () => {
    const first = await app();
    const second = await app({}, first.prefix);
    await lastSweepWas(first.prefix, 10);
    // What the sweep that held wrote next to its completion time (src/sweep/last-sweep.ts).
    await redis.set(lastSweepHeldKey(first.prefix), JSON.stringify({ QueuedForPreProcessing: { stuck: 5000, limit: 500, maxTasks: 500, maxShare: 0.1, population: 5000 } }));
    for (const a of [first, second]) {
      const red = await health(a);
      expect(red.status).toBe(503);
      expect(red.body).toMatchObject({ status: "held", held: { QueuedForPreProcessing: { stuck: 5000, limit: 500 } }, problems: [expect.stringMatching(/^held: QueuedForPreProcessing \(5000 stuck, limit 500\)/)] });
    }

    await pauseSweeps(db, { status: 40, reason: "processor redeploy", by: "ann", forSeconds: 3600 });
    await expect.poll(async () => (await health(second)).body.paused, { timeout: 3000, interval: 100 }).toMatchObject([{ rule: "QueuedForProcessing", by: "ann", reason: "processor redeploy" }]);
    expect((await health(second)).body).toMatchObject({ status: "held", problems: [expect.stringMatching(/^held: /), expect.stringMatching(/^paused: QueuedForProcessing by ann since .* until .*: processor redeploy$/)] });

    await redis.set(lastSweepHeldKey(first.prefix), "{}");
    expect(await health(first)).toMatchObject({ status: 503, body: { status: "paused", held: {} } });
    await lastSweepWas(first.prefix, 3600);
    expect(await health(first)).toMatchObject({ status: 503, body: { status: "overdue", problems: [expect.stringMatching(/^overdue: /), expect.stringMatching(/^paused: /)] } });
  });
});


describe("when two replicas' sweeps overlap and the one that started first completes last", () => {
  const heldByOlder = { ProcessingInProgress: { stuck: 900, limit: 500, maxTasks: 500, maxShare: 0.1, population: 9000 } };

  it("then what the newer sweep found stands: the older one's hold is not recorded over it, and the completion time only moves forward", async () => {
    const a = await app();
    // The newer sweep began 1 s before it completed and found the hold lifted; the older one, still
    // running, began a minute ago, counted before the lift and held. It completes now, after the newer.
    await recordSweepCompleted(redis, a.prefix, {}, 1_000);
    const newerCompleted = await readLastSweepCompletedMs(redis, a.prefix);
    await recordSweepCompleted(redis, a.prefix, heldByOlder, 60_000);

    expect(await readLastSweepHeld(redis, a.prefix)).toEqual({});
    expect(await readLastSweepCompletedMs(redis, a.prefix)).toBeGreaterThanOrEqual(newerCompleted!);
    expect(await health(a)).toMatchObject({ status: 200, body: { status: "ok", held: {} } });

    // A sweep that began after both and held is recorded: a newer observation always wins.
    await recordSweepCompleted(redis, a.prefix, heldByOlder, 0);
    expect(await readLastSweepHeld(redis, a.prefix)).toEqual(heldByOlder);
    expect(await health(a)).toMatchObject({ status: 503, body: { status: "held" } });
  });

  it("then a Redis clock that went back does not freeze the record: the next sweep replaces holds recorded as begun in its future", async () => {
    const a = await app();
    await recordSweepCompleted(redis, a.prefix, heldByOlder, 0);
    // As if the server's clock had been an hour ahead when that sweep was recorded.
    await redis.set(lastSweepHeldStartedKey(a.prefix), String((await redisNowMs(redis)) + 3_600_000));
    await recordSweepCompleted(redis, a.prefix, {}, 60_000);
    expect(await readLastSweepHeld(redis, a.prefix)).toEqual({});
    expect(await health(a)).toMatchObject({ status: 200, body: { status: "ok" } });
  });
});
