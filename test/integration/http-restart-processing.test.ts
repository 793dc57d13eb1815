// PATCH /api/v1.0/external/sdtask/restartprocessing against the whole running worker: every status
// code, and a token only ever reaching its own organization's tasks.
import { createAuthenticator } from "../../src/api/authenticate.js";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { TaskStatus as S } from "../../src/rules/status.js";
import { buildRules } from "../../src/rules/rules.js";
import { createReprocessQueue } from "../../src/reprocess/reprocess-queue.js";
import { restartProcessing, RESTART_PROCESSING_PATH } from "../../src/api/restart-processing.js";
import { createLogger } from "../../src/platform/logger.js";
import { insertTasks, resetTables, testDb } from "../support/db.js";
import { testRedisUrl } from "../support/redis.js";
import { ORG_7_TOKEN, ORG_8_TOKEN, sample, startApp, type RunningApp } from "./http-app.js";

const db = testDb();
let app: RunningApp;
let redis: Redis;
let queue: ReturnType<typeof createReprocessQueue>;

beforeAll(async () => {
  app = await startApp();
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  queue = createReprocessQueue(redis, app.prefix);
});
afterAll(async () => {
  await queue.close();
  await redis.quit();
  await app.stop();
  await db.$disconnect();
});
beforeEach(() => resetTables(db));
// The app's reprocess worker acts on what a test enqueued; let it finish before the tables are reset
// (and before task ids, which restart at 1, are reused by the next test).
afterEach(async () => {
  await expect.poll(async () => Object.values(await queue.getJobCounts("active", "waiting", "delayed", "prioritized")).reduce((a, b) => a + b, 0), { timeout: 10_000, interval: 50 }).toBe(0);
});

const restart = (query: string, authorization?: string, method = "PATCH") =>
  fetch(`${app.apiUrl}${RESTART_PROCESSING_PATH}${query}`, { method, headers: authorization ? { authorization } : {} });
const bearer = (token: string) => `Bearer ${token}`;

async function tasks() {
  const [org7, org7External, org8, org8External] = await insertTasks(db, [
    { status: S.ToReview, ageSeconds: 60, organizationId: 7 },
    { status: S.ProcessingFailed, ageSeconds: 60, organizationId: 7, externalId: "INV-1" },
    { status: S.ToReview, ageSeconds: 60, organizationId: 8 },
    { status: S.ToReview, ageSeconds: 60, organizationId: 8, externalId: "INV-8" },
  ]);
  return { org7: org7!, org7External: org7External!, org8: org8!, org8External: org8External! };
}

describe("when the request is accepted", () => {
  it("by taskId: 202, an empty body, the job id in X-Job-Id, and the job on task-reprocess names the task and the caller", async () => {
    const { org7 } = await tasks();
    const response = await restart(`?taskId=${org7}`, bearer(ORG_7_TOKEN));
    expect(response.status).toBe(202);
    expect(await response.text()).toBe("");
    const jobId = response.headers.get("x-job-id");
    expect(jobId).toMatch(/^\d+$/);
    const job = await queue.getJob(jobId!);
    expect(job?.data).toEqual({
      taskId: org7,
      organizationId: 7,
      requestedBy: expect.stringMatching(/^api:org-7:[0-9a-f]{8}$/),
      httpRequestId: response.headers.get("x-request-id"),
    });
    expect(job!.data.requestedBy).not.toContain(ORG_7_TOKEN.slice(0, 8));
  });

  it("by externalId within the token's organization: 202", async () => {
    const { org7External } = await tasks();
    const response = await restart(`?externalId=INV-1`, bearer(ORG_7_TOKEN));
    expect(response.status).toBe(202);
    expect((await queue.getJob(response.headers.get("x-job-id")!))?.data).toMatchObject({ taskId: org7External, organizationId: 7 });
  });

  it("the worker then reprocesses the task (status 30, restart_count + 1)", async () => {
    const { org7 } = await tasks();
    const response = await restart(`?taskId=${org7}`, bearer(ORG_7_TOKEN));
    const job = (await queue.getJob(response.headers.get("x-job-id")!))!;
    await expect.poll(() => job.getState(), { timeout: 10_000, interval: 50 }).toBe("completed");
    const [row] = await db.$queryRaw<{ status: number; restart_count: number }[]>`SELECT status, restart_count FROM tasks WHERE id = ${org7}`;
    expect(row).toEqual({ status: S.QueuedForPreProcessing, restart_count: 1 });
  });
});

describe("when no task matches", () => {
  it("an unknown taskId or externalId is 404 with an empty body", async () => {
    await tasks();
    for (const query of ["?taskId=999999", "?externalId=NOPE"]) {
      const response = await restart(query, bearer(ORG_7_TOKEN));
      expect(response.status).toBe(404);
      expect(await response.text()).toBe("");
    }
  });

  it("another organization's task is 404 — by id and by external id — and nothing is enqueued", async () => {
    const { org8, org7 } = await tasks();
    const before = await queue.count();
    expect((await restart(`?taskId=${org8}`, bearer(ORG_7_TOKEN))).status).toBe(404);
    expect((await restart(`?externalId=INV-8`, bearer(ORG_7_TOKEN))).status).toBe(404);
    expect((await restart(`?taskId=${org7}`, bearer(ORG_8_TOKEN))).status).toBe(404);
    expect((await restart(`?externalId=INV-1`, bearer(ORG_8_TOKEN))).status).toBe(404);
    expect(await queue.count()).toBe(before);
    // …while each organization's own token reaches it.
    expect((await restart(`?taskId=${org8}`, bearer(ORG_8_TOKEN))).status).toBe(202);
    expect((await restart(`?externalId=INV-8`, bearer(ORG_8_TOKEN))).status).toBe(202);
  });
});

describe("when the request is malformed", () => {
  it.each([
    ["", /^the query must give exactly one of taskId or externalId$/],
    ["?taskId=1&externalId=X", /exactly one of taskId or externalId/],
    ["?taskId=1&taskId=2", /^taskId is given 2 times; give it once$/],
    ["?externalId=A&externalId=A", /^externalId is given 2 times; give it once$/],
    ["?externalId=%00", /externalId must not contain control characters \(such as NUL or a newline\), got the string "\\u0000"/],
    ["?externalId=h-1%00", /externalId must not contain control characters/],
    ["?externalId=a%0Ab", /externalId must not contain control characters/],
    ["?externalId=a%7Fb", /externalId must not contain control characters/],
    // C1 controls too (U+0085): the same set as the read API's, one parser for both.
    ["?externalId=a%C2%85b", /externalId must not contain control characters/],
    ["?taskId=7&dryRun=true&confirm=false", /^unknown query parameters "dryRun", "confirm"; allowed: taskId, externalId/],
    ["?taskid=7", /^unknown query parameter "taskid"/],
    // Names an object's prototype answers to are parameters like any other: refused, never dropped.
    ["?taskId=1&__proto__=x", /^unknown query parameter "__proto__"/],
    ["?taskId=1&constructor=x", /^unknown query parameter "constructor"/],
    ["?taskId=abc", /taskId must be a whole number from 1 to 2147483647/],
    ["?taskId=0", /taskId must be a whole number/],
    ["?taskId=-5", /taskId must be a whole number/],
    ["?taskId=1.5", /taskId must be a whole number/],
    ["?taskId=2147483648", /taskId must be a whole number/],
    ["?taskId=", /taskId must be a whole number/],
    ["?externalId=", /externalId must be 1 to 1000 characters/],
    [`?externalId=${"x".repeat(1001)}`, /externalId must be 1 to 1000 characters/],
  ])("%s is 400 with an empty body and the reason in X-Error; nothing is enqueued", async (query, reason) => {
    await tasks(); // task 1 exists: a parameter that was ignored would enqueue its restart
    const response = await restart(query, bearer(ORG_7_TOKEN));
    expect(response.status).toBe(400);
    expect(await response.text()).toBe("");
    expect(response.headers.get("x-error")).toMatch(reason);
    expect(await queue.count()).toBe(0);
  });

  it("an externalId with characters beyond Latin-1 is looked up, and the reason header stays valid when it is refused", async () => {
    await tasks();
    expect((await restart(`?externalId=${encodeURIComponent("€-1")}`, bearer(ORG_7_TOKEN))).status).toBe(404);
    const refused = await restart(`?externalId=${encodeURIComponent("€\u0000")}`, bearer(ORG_7_TOKEN));
    expect(refused.status).toBe(400);
    expect(refused.headers.get("x-error")).toMatch(/externalId must not contain control characters/);
  });
});

describe("when the caller is not authenticated", () => {
  it.each([
    ["no Authorization header", undefined, 'Bearer realm="task-watchdog"'],
    ["an unknown token", bearer("unknown-token-0123456789abcdefgh"), 'Bearer realm="task-watchdog", error="invalid_token"'],
    ["a token with a character changed", bearer(`${ORG_7_TOKEN.slice(0, -1)}X`), 'Bearer realm="task-watchdog", error="invalid_token"'],
    ["a token's prefix", bearer(ORG_7_TOKEN.slice(0, 20)), 'Bearer realm="task-watchdog", error="invalid_token"'],
    ["Basic instead of Bearer", `Basic ${Buffer.from(`x:${ORG_7_TOKEN}`).toString("base64")}`, 'Bearer realm="task-watchdog", error="invalid_token"'],
  ])("%s is 401 with WWW-Authenticate: Bearer, before the query is even looked at", async (_case, authorization, challenge) => {
    const { org7 } = await tasks();
    for (const query of [`?taskId=${org7}`, "", "?taskId=abc"]) {
      const response = await restart(query, authorization);
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toBe(challenge);
      expect(await response.text()).toBe("");
    }
  });

  it("with no API_TOKENS configured every call is 401", async () => {
    const bare = await startApp({ API_TOKENS: "" });
    try {
      const response = await fetch(`${bare.apiUrl}${RESTART_PROCESSING_PATH}?taskId=1`, { method: "PATCH", headers: { authorization: bearer(ORG_7_TOKEN) } });
      expect(response.status).toBe(401);
    } finally {
      await bare.stop();
    }
  });
});

describe("the route itself", () => {
  it("answers 405 with Allow: PATCH to other methods", async () => {
    const response = await restart("?taskId=1", bearer(ORG_7_TOKEN), "POST");
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("PATCH");
  });

  it("the same task asked twice while the first request waits collapses into one job", async () => {
    const { org8 } = await tasks();
    // A paused queue keeps the first job waiting, as a busy worker would.
    await queue.pause();
    try {
      const first = await restart(`?taskId=${org8}`, bearer(ORG_8_TOKEN));
      const second = await restart(`?taskId=${org8}`, bearer(ORG_8_TOKEN));
      expect([first.status, second.status]).toEqual([202, 202]);
      expect(second.headers.get("x-job-id")).toBe(first.headers.get("x-job-id"));
    } finally {
      await queue.resume();
    }
  });

  it("is a plain handler: (input) → { status, headers }, callable without the server", async () => {
    const { org7 } = await tasks();
    const handler = restartProcessing({ authenticate: createAuthenticator({ tokens: [{ token: ORG_7_TOKEN, organizationId: 7 }], db }), db, queue, rules: buildRules(), logger: createLogger({ level: "silent" }) });
    const input = (query: string) => ({ method: "PATCH", path: RESTART_PROCESSING_PATH, query: new URLSearchParams(query), headers: { authorization: bearer(ORG_7_TOKEN) } });
    expect(await handler(input(`taskId=${org7}`))).toMatchObject({ status: 202, headers: { "x-job-id": expect.any(String) } });
    expect(await handler(input("taskId=999999"))).toEqual({ status: 404 });
  });

  it("counts every call by outcome in watchdog_reprocess_requests_total", async () => {
    const { org7 } = await tasks();
    const scrape = async () => (await fetch(`${app.opsUrl}/metrics`)).text();
    const before = await scrape();
    const count = (text: string, outcome: string) => sample(text, "watchdog_reprocess_requests_total", { outcome }) ?? 0;
    await restart(`?taskId=${org7}`, bearer(ORG_7_TOKEN));
    await restart(`?taskId=999999`, bearer(ORG_7_TOKEN));
    await restart(`?taskId=x`, bearer(ORG_7_TOKEN));
    await restart(`?taskId=${org7}`);
    const after = await scrape();
    for (const outcome of ["accepted", "not_found", "bad_request", "unauthorized"]) expect(count(after, outcome) - count(before, outcome)).toBe(1);
  });
});
