// PostgreSQL unreachable or frozen (test/support/tcp-proxy.ts in front of it, for this app only):
// every endpoint that needs it answers 503 with Retry-After — not a 500 "http handler failed" — and
// nothing is done; readiness is per listener: the API listener's (/api/readyz) needs PostgreSQL
// only, so a Redis outage leaves it ready (its PATCH still answers 503 by itself), while the ops
// listener's /readyz needs both. When PostgreSQL is back, everything answers as before.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { TaskStatus as S } from "../../src/rules/status.js";
import { RESTART_PROCESSING_PATH } from "../../src/api/restart-processing.js";
import { TASK_STATUS_PATH } from "../../src/api/read-api/task-status.js";
import { TASK_STATUS_LIST_PATH } from "../../src/api/read-api/task-status-list.js";
import { TASK_EVENTS_PATH } from "../../src/api/read-api/task-events.js";
import { BULK_CANCEL_PATH, BULK_ITEMS_PATH, BULK_REPROCESS_PATH } from "../../src/api/bulk-reprocess.js";
import { insertTasks, resetTables, testDatabaseUrl, testDb } from "../support/db.js";
import { testRedisUrl } from "../support/redis.js";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.js";
import { NOT_READY_WITHOUT_REASON } from "../../src/ops/health.js";
import { basic, BOARD_PASSWORD, BOARD_USER, ORG_7_TOKEN, sample, startApp, type RunningApp } from "./http-app.js";

const db = testDb();
let pgProxy: TcpProxy;
let redisProxy: TcpProxy;
let app: RunningApp;
let taskId: number;

beforeAll(async () => {
  pgProxy = await startTcpProxy();
  const redis = new URL(testRedisUrl());
  redisProxy = await startTcpProxy({ host: redis.hostname, port: Number(redis.port || 6379) });
  app = await startApp({
    DATABASE_URL: pgProxy.url(testDatabaseUrl()),
    REDIS_URL: redisProxy.url(testRedisUrl()),
    DATABASE_STATEMENT_TIMEOUT: "PT1S",
    DATABASE_CONNECT_TIMEOUT: "PT1S",
  });
});
afterAll(async () => {
  pgProxy.restore();
  redisProxy.restore();
  await app.stop();
  await pgProxy.close();
  await redisProxy.close();
  await db.$disconnect();
});
beforeEach(async () => {
  pgProxy.restore();
  redisProxy.restore();
  await resetTables(db);
  [taskId] = (await insertTasks(db, [{ status: S.ToReview, ageSeconds: 60, organizationId: 7 }])) as [number];
});

const auth = { authorization: `Bearer ${ORG_7_TOKEN}` };
/** Every endpoint of the API listener that reads or writes PostgreSQL (the bulk reprocess too), and the ops JSON endpoint that reads it. */
const API_CALLS: [string, () => Promise<Response>][] = [
  ["PATCH restartprocessing", () => fetch(`${app.apiUrl}${RESTART_PROCESSING_PATH}?taskId=${taskId}`, { method: "PATCH", headers: auth })],
  ["GET status", () => fetch(`${app.apiUrl}${TASK_STATUS_PATH}?taskId=${taskId}`, { headers: auth })],
  ["GET statuslist", () => fetch(`${app.apiUrl}${TASK_STATUS_LIST_PATH}`, { headers: auth })],
  ["GET statuslist?stuck=true", () => fetch(`${app.apiUrl}${TASK_STATUS_LIST_PATH}?stuck=true`, { headers: auth })],
  ["GET events", () => fetch(`${app.apiUrl}${TASK_EVENTS_PATH}?taskId=${taskId}`, { headers: auth })],
  ["POST bulk", () => fetch(`${app.apiUrl}${BULK_REPROCESS_PATH}`, { method: "POST", headers: { ...auth, "content-type": "application/json", "idempotency-key": "outage" }, body: JSON.stringify({ taskIds: [taskId] }) })],
  ["GET bulk", () => fetch(`${app.apiUrl}${BULK_REPROCESS_PATH}?bulkId=${NO_BULK}`, { headers: auth })],
  ["GET bulk items", () => fetch(`${app.apiUrl}${BULK_ITEMS_PATH}?bulkId=${NO_BULK}`, { headers: auth })],
  ["POST bulk cancel", () => fetch(`${app.apiUrl}${BULK_CANCEL_PATH}?bulkId=${NO_BULK}`, { method: "POST", headers: auth })],
  // The ops listener's JSON endpoint that reads PostgreSQL.
  ["GET given-up events", () => fetch(`${app.opsUrl}/admin/events/given-up`, { headers: { authorization: basic(BOARD_USER, BOARD_PASSWORD) } })],
];
const NO_BULK = `bulk_${"0".repeat(32)}`;
const API_NOT_READY = NOT_READY_WITHOUT_REASON;

describe.each([
  ["unreachable (every connection reset)", () => pgProxy.cut()],
  ["frozen (connections open, nothing answered)", () => pgProxy.freeze()],
])("when PostgreSQL is %s", (_case, outage) => {
  it("every API endpoint that needs it answers 503 with Retry-After within seconds, both readiness checks say not ready, nothing is done; afterwards all answer again", async () => {
    outage();
    for (const [name, call] of API_CALLS) {
      const started = Date.now();
      const response = await call();
      expect({ name, status: response.status, retryAfter: response.headers.get("retry-after") }).toEqual({ name, status: 503, retryAfter: "5" });
      expect(response.headers.get("x-error"), name).toMatch(/PostgreSQL/);
      expect(Date.now() - started, name).toBeLessThan(6000);
    }
    // /health/sweeps cannot say (the pauses live in PostgreSQL): 503, status unknown, naming PostgreSQL.
    const sweeps = await fetch(`${app.opsUrl}/health/sweeps`);
    expect(sweeps.status).toBe(503);
    expect(await sweeps.json()).toMatchObject({ status: "unknown", error: expect.stringMatching(/PostgreSQL/) });
    for (const url of [`${app.apiUrl}/api/readyz`, `${app.opsUrl}/readyz`]) {
      const response = await fetch(url);
      expect({ url, status: response.status, retryAfter: response.headers.get("retry-after") }).toEqual({ url, status: 503, retryAfter: "5" });
      expect(((await response.json()) as { checks: { postgres: string } }).checks.postgres).not.toBe("ok");
    }
    const scrape = await fetch(`${app.opsUrl}/metrics`);
    expect(scrape.status).toBe(200); // its collectors that failed are empty and counted (docs/http.md)
    const metrics = await scrape.text();
    expect(sample(metrics, "watchdog_http_faults_total", { kind: "database_unavailable" })).toBeGreaterThanOrEqual(API_CALLS.length);
    expect(sample(metrics, "watchdog_http_faults_total", { kind: "handler_failed" }) ?? 0).toBe(0);

    pgProxy.restore();
    await expect.poll(async () => (await fetch(`${app.apiUrl}/api/readyz`)).status, { timeout: 15_000, interval: 200 }).toBe(200);
    for (const [name, call] of API_CALLS.slice(1, 5)) expect((await call()).status, name).toBe(200);
    expect((await API_CALLS.find(([name]) => name === "GET bulk")![1]()).status).toBe(404); // answered again: no such bulk
    // Nothing of the refused PATCH was enqueued or applied.
    expect(await db.$queryRaw`SELECT restart_count FROM tasks WHERE id = ${taskId}`).toEqual([{ restart_count: 0 }]);
    expect(await db.$queryRaw`SELECT count(*)::int AS n FROM bulk_reprocesses`).toEqual([{ n: 0 }]);
  }, 60_000);

  it("the API listener's readiness, served without a token to whoever reaches it, says only that PostgreSQL is unavailable: never the driver's error (an address, a user, a database name); the ops listener's says why", async () => {
    outage();
    // Past the readiness cache of the previous test's checks.
    await expect.poll(async () => (await fetch(`${app.opsUrl}/readyz`)).status, { timeout: 10_000, interval: 200 }).toBe(503);
    const ops = (await (await fetch(`${app.opsUrl}/readyz`)).json()) as { checks: { postgres: string } };
    expect(ops.checks.postgres).not.toBe("ok");
    const api = await fetch(`${app.apiUrl}/api/readyz`);
    expect(api.status).toBe(503);
    expect(await api.json()).toEqual({ status: "not ready", checks: { postgres: API_NOT_READY } });
    pgProxy.restore();
    await expect.poll(async () => (await fetch(`${app.apiUrl}/api/readyz`)).status, { timeout: 15_000, interval: 200 }).toBe(200);
  }, 60_000);
});

describe("when Redis is unreachable", () => {
  it("the API listener stays ready (reads need PostgreSQL only) and its PATCH answers 503; the ops listener is not ready", async () => {
    redisProxy.cut();
    await expect.poll(async () => (await fetch(`${app.opsUrl}/readyz`)).status, { timeout: 10_000, interval: 200 }).toBe(503);
    const apiReady = await fetch(`${app.apiUrl}/api/readyz`);
    expect(apiReady.status).toBe(200);
    expect(await apiReady.json()).toEqual({ status: "ready", checks: { postgres: "ok" } });
    expect((await fetch(`${app.apiUrl}${TASK_STATUS_PATH}?taskId=${taskId}`, { headers: auth })).status).toBe(200);
    const patch = await fetch(`${app.apiUrl}${RESTART_PROCESSING_PATH}?taskId=${taskId}`, { method: "PATCH", headers: auth });
    expect({ status: patch.status, retryAfter: patch.headers.get("retry-after") }).toEqual({ status: 503, retryAfter: "5" });
    redisProxy.restore();
    await expect.poll(async () => (await fetch(`${app.opsUrl}/readyz`)).status, { timeout: 15_000, interval: 200 }).toBe(200);
  }, 60_000);
});
