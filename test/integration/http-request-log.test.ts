// Request ids and the access log: a well-formed X-Request-Id is kept, anything else replaced,
// the id is echoed, travels into the reprocess job and its REPROCESSED event; probes and scrapes
// log at debug only; no header value reaches the log.
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TaskStatus as S } from "../../src/rules/status.js";
import { RESTART_PROCESSING_PATH } from "../../src/api/restart-processing.js";
import { createReprocessQueue } from "../../src/reprocess/reprocess-queue.js";
import { insertTasks, resetTables, testDb } from "../support/db.js";
import { testRedisUrl } from "../support/redis.js";
import { basic, BOARD_PASSWORD, BOARD_USER, ORG_7_TOKEN, startApp, type RunningApp } from "./http-app.js";

const db = testDb();
let app: RunningApp;
let redis: Redis;
let queue: ReturnType<typeof createReprocessQueue>;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

beforeAll(async () => {
  await resetTables(db);
  app = await startApp({}, { captureLogs: true });
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  queue = createReprocessQueue(redis, app.prefix);
});
afterAll(async () => {
  await queue.close();
  await redis.quit();
  await app.stop();
  await db.$disconnect();
});

const lines = () => app.logs().trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown> & { msg: string; level: number; req?: { id: string; path: string } });

describe("X-Request-Id", () => {
  it.each([
    ["a well-formed id is kept and echoed", "platform-req:42.a_b-C", (id: string | null) => expect(id).toBe("platform-req:42.a_b-C")],
    ["an id of 129 characters is replaced by a UUID", "a".repeat(129), (id: string | null) => expect(id).toMatch(UUID)],
    ["an id with a space or a quote is replaced", 'x" y', (id: string | null) => expect(id).toMatch(UUID)],
    ["no id: one is generated", undefined, (id: string | null) => expect(id).toMatch(UUID)],
  ])("%s", async (_case, given, check) => {
    for (const url of [`${app.opsUrl}/healthz`, `${app.apiUrl}/nope`]) {
      const response = await fetch(url, { headers: given === undefined ? {} : { "x-request-id": given } });
      check(response.headers.get("x-request-id"));
    }
  });

  it("travels from the request into the reprocess job's data and its REPROCESSED event", async () => {
    const [id] = await insertTasks(db, [{ status: S.ProcessingFailed, ageSeconds: 60, organizationId: 7 }]);
    const response = await fetch(`${app.apiUrl}${RESTART_PROCESSING_PATH}?taskId=${id}`, { method: "PATCH", headers: { authorization: `Bearer ${ORG_7_TOKEN}`, "x-request-id": "trace-me-123" } });
    expect(response.status).toBe(202);
    expect(response.headers.get("x-request-id")).toBe("trace-me-123");
    const job = (await queue.getJob(response.headers.get("x-job-id")!))!;
    expect(job.data).toMatchObject({ taskId: id, httpRequestId: "trace-me-123" });
    await expect.poll(() => job.getState(), { timeout: 10_000, interval: 50 }).toBe("completed");
    const [event] = await db.$queryRaw<{ kind: string; details: Record<string, unknown> }[]>`SELECT kind::text, details FROM task_events WHERE task_id = ${id}`;
    expect(event).toMatchObject({ kind: "REPROCESSED", details: { httpRequestId: "trace-me-123" } });
    // …and the access line and the handler's line carry the same id.
    const ours = lines().filter((l) => l.req?.id === "trace-me-123" || l.requestId === "trace-me-123");
    expect(ours.map((l) => l.msg).sort()).toEqual(["http request", "reprocess requested over HTTP"]);
  });
});

describe("the access log", () => {
  it("probes and scrapes log at debug, API calls at info, each with method, path, status and time; never a header or the query", async () => {
    const secretQuery = "externalId=SECRET-QUERY-VALUE";
    await fetch(`${app.opsUrl}/healthz`);
    await fetch(`${app.opsUrl}/metrics`);
    await fetch(`${app.opsUrl}/readyz`);
    await fetch(`${app.opsUrl}/admin/queues/api/queues`, { headers: { authorization: basic(BOARD_USER, BOARD_PASSWORD), cookie: "session=COOKIE-VALUE" } });
    await fetch(`${app.apiUrl}${RESTART_PROCESSING_PATH}?${secretQuery}`, { method: "PATCH", headers: { authorization: `Bearer ${ORG_7_TOKEN}` } });
    const access = lines().filter((l) => l.msg === "http request");
    const levelOf = (path: string) => [...new Set(access.filter((l) => l.req?.path === path).map((l) => l.level))];
    for (const quiet of ["/healthz", "/metrics", "/readyz"]) expect(levelOf(quiet)).toEqual([20]);
    expect(levelOf("/admin/queues/api/queues")).toEqual([30]);
    expect(levelOf(RESTART_PROCESSING_PATH)).toEqual([30]);
    const patch = access.find((l) => l.req?.path === RESTART_PROCESSING_PATH && (l.res as { status: number }).status === 404)!;
    expect(patch).toMatchObject({ req: { method: "PATCH", path: RESTART_PROCESSING_PATH, id: expect.any(String) }, res: { status: 404 }, ms: expect.any(Number) });
    const text = app.logs();
    for (const secret of ["SECRET-QUERY-VALUE", "COOKIE-VALUE", ORG_7_TOKEN, BOARD_PASSWORD, basic(BOARD_USER, BOARD_PASSWORD).slice(6)]) expect(text).not.toContain(secret);
  });
});
