// Secrets never reach the logs: the whole worker runs with a password in DATABASE_URL, API tokens
// and Bull Board credentials; every endpoint is exercised with them (right and wrong), a sweep and
// a reprocess run; then the captured log text is searched for each secret.
import { Writable } from "node:stream";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TaskStatus as S } from "../../src/rules/status.js";
import { RESTART_PROCESSING_PATH } from "../../src/api/restart-processing.js";
import { createLogger } from "../../src/platform/logger.js";
import { createReprocessQueue } from "../../src/reprocess/reprocess-queue.js";
import { createSweepQueue, enqueueSweep } from "../../src/sweep/sweep-queue.js";
import { insertTasks, resetTables, testDatabaseUrl, testDb } from "../support/db.js";
import { testRedisUrl } from "../support/redis.js";
import { basic, BOARD_PASSWORD, BOARD_USER, ORG_7_TOKEN, ORG_8_TOKEN, startApp, type RunningApp } from "./http-app.js";

const db = testDb();
// PostgreSQL here trusts local connections and Redis has no password of its own, so passwords in
// their URLs are accepted and ignored: the worker runs with them as it would in production.
const DB_PASSWORD = "pg-Secret-4711";
const REDIS_PASSWORD = "redis-Secret-0815";
const WRONG_TOKEN = "wrong-token-9876543210zyxwvutsrq";
const WRONG_BOARD_PASSWORD = "not-the-board-password";
let app: RunningApp;
let redis: Redis;

beforeAll(async () => {
  await resetTables(db);
  const databaseUrl = new URL(testDatabaseUrl());
  databaseUrl.password = DB_PASSWORD;
  const redisUrl = new URL(testRedisUrl());
  redisUrl.password = REDIS_PASSWORD;
  app = await startApp({ DATABASE_URL: databaseUrl.toString(), REDIS_URL: redisUrl.toString(), LOG_LEVEL: "trace" }, { captureLogs: true });
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
});
afterAll(async () => {
  await redis.quit();
  await app.stop();
  await db.$disconnect();
});

describe("when the worker is used with its secrets", () => {
  it("no secret appears anywhere in the logs, while every request is logged once, without its query string", async () => {
    const [task] = await insertTasks(db, [{ status: S.ProcessingInProgress, ageSeconds: 5 * 3600, organizationId: 7, externalId: "INV-7" }]);
    const patch = (query: string, token: string) => fetch(`${app.apiUrl}${RESTART_PROCESSING_PATH}${query}`, { method: "PATCH", headers: { authorization: `Bearer ${token}` } });

    // A sweep reverts the task; then a reprocess request for it runs through the worker.
    const sweepQueue = createSweepQueue(redis, app.prefix);
    const sweep = await enqueueSweep(sweepQueue, {});
    await expect.poll(() => sweep.getState(), { timeout: 10_000, interval: 50 }).toBe("completed");
    await sweepQueue.close();

    // A token in the query is an unknown parameter: refused by name, its value neither echoed nor logged.
    const tokenInQuery = await patch(`?taskId=${task}&access_token=${ORG_7_TOKEN}`, ORG_7_TOKEN);
    expect(tokenInQuery.status).toBe(400);
    expect(tokenInQuery.headers.get("x-error")).toContain('unknown query parameter "access_token"');
    expect(tokenInQuery.headers.get("x-error")).not.toContain(ORG_7_TOKEN);
    const accepted = await patch(`?taskId=${task}`, ORG_7_TOKEN);
    expect(accepted.status).toBe(202);
    const reprocessQueue = createReprocessQueue(redis, app.prefix);
    const job = (await reprocessQueue.getJob(accepted.headers.get("x-job-id")!))!;
    await expect.poll(() => job.getState(), { timeout: 10_000, interval: 50 }).toBe("completed");
    await reprocessQueue.close();

    expect((await patch(`?externalId=INV-7`, ORG_8_TOKEN)).status).toBe(404);
    expect((await patch(`?taskId=${task}&token=${WRONG_TOKEN}`, WRONG_TOKEN)).status).toBe(401);
    expect((await patch(`?taskId=nope`, ORG_7_TOKEN)).status).toBe(400);
    expect((await fetch(`${app.opsUrl}/admin/queues/api/queues`, { headers: { authorization: basic(BOARD_USER, BOARD_PASSWORD) } })).status).toBe(200);
    expect((await fetch(`${app.opsUrl}/admin/queues`, { headers: { authorization: basic(BOARD_USER, WRONG_BOARD_PASSWORD) } })).status).toBe(401);
    expect((await fetch(`${app.opsUrl}/metrics`)).status).toBe(200);
    expect((await fetch(`${app.opsUrl}/health/sweeps`)).status).toBe(200);
    expect((await fetch(`${app.opsUrl}/readyz`)).status).toBe(200);
    await app.stop(); // shutdown logs too; stop() is safe to call again in afterAll

    const logs = app.logs();
    const lines = logs.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    const messages = lines.map((l) => l.msg);
    expect(messages).toContain("watchdog started");
    expect(messages).toContain("sweep finished");
    expect(messages).toContain("reprocess requested over HTTP");
    const requests = lines.filter((l) => l.msg === "http request");
    expect(requests).toHaveLength(10);
    expect(requests.map((l) => (l.req as { path: string }).path)).toContain(RESTART_PROCESSING_PATH);
    expect(logs).not.toContain("?taskId");

    const secrets = {
      DB_PASSWORD,
      REDIS_PASSWORD,
      ORG_7_TOKEN,
      ORG_8_TOKEN,
      WRONG_TOKEN,
      BOARD_PASSWORD,
      WRONG_BOARD_PASSWORD,
      boardBasic: basic(BOARD_USER, BOARD_PASSWORD).slice("Basic ".length),
      wrongBoardBasic: basic(BOARD_USER, WRONG_BOARD_PASSWORD).slice("Basic ".length),
    };
    for (const [name, secret] of Object.entries(secrets)) expect(logs.includes(secret), `${name} appears in the logs`).toBe(false);
  });

  it("an error that quotes a connection string is logged with the password scrubbed", async () => {
    let out = "";
    const log = createLogger({ level: "info", destination: new Writable({ write: (c, _e, done) => ((out += String(c)), done()) }) });
    log.error({ err: new Error(`connect ECONNREFUSED postgresql://postgres:${DB_PASSWORD}@db:5432/x`) }, "database unreachable");
    expect(out).toContain("postgresql://postgres:[redacted]@db:5432/x");
    expect(out).not.toContain(DB_PASSWORD);
  });
});
