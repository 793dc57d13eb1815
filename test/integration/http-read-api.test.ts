// The read API (GET …/sdtask/status, …/statuslist, …/events) against the whole running worker:
// tokens reach only their organization, every filter, keyset pages while tasks change between
// the calls, and every bad parameter refused with a 400 that names it. Every body is parsed with
// the schema the OpenAPI document is generated from, strictly.
import { createAuthenticator } from "../../src/api/authenticate.js";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { z } from "zod";
import { buildRules } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { TaskEventListBody, TaskStatusBody, TaskStatusListBody, ErrorBody } from "../../src/api/read-api/bodies.js";
import { TASK_EVENTS_PATH } from "../../src/api/read-api/task-events.js";
import { taskStatusList, TASK_STATUS_LIST_PATH } from "../../src/api/read-api/task-status-list.js";
import { TASK_STATUS_PATH } from "../../src/api/read-api/task-status.js";
import { encodeCursor } from "../../src/api/read-api/cursor.js";
import { insertTasks, resetTables, testDb } from "../support/db.js";
import { ORG_7_TOKEN, ORG_8_TOKEN, startApp, type RunningApp } from "./http-app.js";

const db = testDb();
let app: RunningApp;

beforeAll(async () => {
  app = await startApp();
});
afterAll(async () => {
  await app.stop();
  await db.$disconnect();
});
beforeEach(() => resetTables(db));

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const get = (path: string, query: string, headers: Record<string, string> = bearer(ORG_7_TOKEN)) => fetch(`${app.apiUrl}${path}${query}`, { headers });

async function ok<T extends z.ZodType>(schema: T, response: Response): Promise<z.output<T>> {
  const body = await response.json();
  expect(response.status, JSON.stringify(body)).toBe(200);
  return schema.parse(body);
}

/** All ids over every page of `query`, fetching `pageSize` at a time; `between` runs after each page. */
async function allPages(query: string, pageSize: number, between: (page: number) => Promise<void> = async () => {}): Promise<number[]> {
  const ids: number[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 1000; page++) {
    const sep = query === "" ? "?" : `${query}&`;
    const body: z.output<typeof TaskStatusListBody> = await ok(TaskStatusListBody, await get(TASK_STATUS_LIST_PATH, `${sep}limit=${pageSize}${cursor ? `&cursor=${cursor}` : ""}`));
    expect(body.tasks.length).toBeLessThanOrEqual(pageSize);
    ids.push(...body.tasks.map((t) => t.taskId));
    cursor = body.nextCursor;
    if (cursor === null) return ids;
    await between(page);
  }
  throw new Error("more than 1000 pages");
}

const setWarning = (ids: number[]) => db.$executeRaw`UPDATE tasks SET warning = true, warning_reason = 'stuck 5 h' WHERE id = ANY(${ids}::int[])`;

describe("GET …/sdtask/status", () => {
  it("by taskId and by externalId: status code and name, since when, counters, warning, location and stuck by the effective rules", async () => {
    const [stuck, fresh, inHistory] = await insertTasks(db, [
      { status: S.ProcessingInProgress, ageSeconds: 5 * 3600, organizationId: 7, externalId: "INV-1", previousStatus: S.QueuedForProcessing },
      { status: S.ProcessingInProgress, ageSeconds: 600, organizationId: 7 },
      { status: S.Processed, ageSeconds: 3 * 86_400, organizationId: 7, location: "HISTORY" },
    ]);
    await setWarning([stuck!]);
    await db.$executeRaw`UPDATE tasks SET restart_count = 2, pre_processing_started_on = now() - interval '6 hours' WHERE id = ${stuck!}`;

    const byId = await ok(TaskStatusBody, await get(TASK_STATUS_PATH, `?taskId=${stuck}`));
    const byExternalId = await ok(TaskStatusBody, await get(TASK_STATUS_PATH, `?externalId=INV-1`));
    expect({ ...byExternalId, checkedAt: "", secondsInStatus: 0 }).toEqual({ ...byId, checkedAt: "", secondsInStatus: 0 });
    expect(byId).toMatchObject({
      taskId: stuck,
      externalId: "INV-1",
      organizationId: 7,
      status: 41,
      statusName: "ProcessingInProgress",
      previousStatus: 40,
      previousStatusName: "QueuedForProcessing",
      location: "INBOX",
      warning: true,
      warningReason: "stuck 5 h",
      restartCount: 2,
      stuck: true,
      stuckAfterSeconds: 14_400,
    });
    expect(byId.secondsInStatus).toBeGreaterThanOrEqual(5 * 3600);
    expect(byId.secondsInStatus).toBeLessThan(5 * 3600 + 60);
    expect(Date.parse(byId.checkedAt) - Date.parse(byId.statusChangedAt)).toBeGreaterThanOrEqual(5 * 3600 * 1000);
    expect(Date.parse(byId.stuckSince!) - Date.parse(byId.statusChangedAt)).toBe(14_400 * 1000);
    expect(Date.parse(byId.checkedAt) - Date.parse(byId.preProcessingStartedOn!)).toBeGreaterThanOrEqual(6 * 3600 * 1000);

    expect(await ok(TaskStatusBody, await get(TASK_STATUS_PATH, `?taskId=${fresh}`))).toMatchObject({ stuck: false, stuckAfterSeconds: 14_400, stuckSince: null, warning: false });
    // An archivable status past its threshold, but already in history: not stuck.
    expect(await ok(TaskStatusBody, await get(TASK_STATUS_PATH, `?taskId=${inHistory}`))).toMatchObject({ location: "HISTORY", stuck: false, stuckAfterSeconds: 86_400 });
  });

  it("another organization's task is 404 by id and by external id, while its own token reaches it", async () => {
    const [org8] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 60, organizationId: 8, externalId: "INV-8" }]);
    for (const query of [`?taskId=${org8}`, "?externalId=INV-8", "?taskId=999999"]) {
      const response = await get(TASK_STATUS_PATH, query);
      expect(response.status).toBe(404);
      expect(ErrorBody.parse(await response.json())).toEqual({ error: "no such task in your organization" });
      expect(response.headers.get("x-error")).toBe("no such task in your organization");
    }
    expect(await ok(TaskStatusBody, await get(TASK_STATUS_PATH, `?taskId=${org8}`, bearer(ORG_8_TOKEN)))).toMatchObject({ taskId: org8, organizationId: 8 });
  });
});

describe("GET …/sdtask/statuslist", () => {
  async function fixtures() {
    const ids = await insertTasks(db, [
      /* 0 */ { status: S.ProcessingInProgress, ageSeconds: 5 * 3600, organizationId: 7 }, // stuck
      /* 1 */ { status: S.ProcessingInProgress, ageSeconds: 60, organizationId: 7 },
      /* 2 */ { status: S.QueuedForProcessing, ageSeconds: 3 * 3600, organizationId: 7 }, // stuck (PT2H)
      /* 3 */ { status: S.ToReview, ageSeconds: 30 * 86_400, organizationId: 7 }, // stable: never stuck
      /* 4 */ { status: S.Processed, ageSeconds: 2 * 86_400, organizationId: 7 }, // archivable, stuck (PT24H)
      /* 5 */ { status: S.Processed, ageSeconds: 2 * 86_400, organizationId: 7, location: "HISTORY" },
      /* 6 */ { status: S.ProcessingInProgress, ageSeconds: 5 * 3600, organizationId: 8 }, // another organization
      /* 7 */ { status: S.ProcessingFailed, ageSeconds: 60, organizationId: 7 },
    ]);
    await setWarning([ids[0]!, ids[7]!, ids[6]!]);
    return ids;
  }
  const list = async (query: string, token = ORG_7_TOKEN) => (await ok(TaskStatusListBody, await get(TASK_STATUS_LIST_PATH, query, bearer(token)))).tasks.map((t) => t.taskId);

  it.each([
    ["no filter: the organization's tasks in id order", "", [0, 1, 2, 3, 4, 5, 7]],
    ["status by code", "?status=41", [0, 1]],
    ["status by name, any case", "?status=processinginprogress", [0, 1]],
    ["statuses comma-separated, codes and names", "?status=41,QueuedForProcessing", [0, 1, 2]],
    ["statuses repeated", "?status=41&status=70", [0, 1, 4, 5]],
    ["a status nobody is in", "?status=62", []],
    ["warning=true", "?warning=true", [0, 7]],
    ["warning=false", "?warning=false", [1, 2, 3, 4, 5]],
    ["stuck=true: transient and archivable past their thresholds, inbox only", "?stuck=true", [0, 2, 4]],
    ["stuck=false", "?stuck=false", [1, 3, 5, 7]],
    ["location=HISTORY", "?location=HISTORY", [5]],
    ["location=INBOX", "?location=INBOX", [0, 1, 2, 3, 4, 7]],
    ["location in any case, like status names", "?location=inbox", [0, 1, 2, 3, 4, 7]],
    ["location=History", "?location=History", [5]],
    ["changedSince: status changed within the last hour", `?changedSince=${new Date(Date.now() - 3600_000).toISOString()}`, [1, 7]],
    ["changedUntil: status changed over an hour ago, with an offset", `?changedUntil=${encodeURIComponent(new Date(Date.now() - 3600_000).toISOString().replace("Z", "+00:00"))}`, [0, 2, 3, 4, 5]],
    ["filters combined", "?status=41,70&stuck=true&warning=false&location=INBOX", [4]],
  ])("%s", async (_case, query, expected) => {
    const ids = await fixtures();
    expect(await list(query)).toEqual(expected.map((i) => ids[i]));
  });

  it("each item is the same as GET …/status answers for it, and another organization's tasks never appear", async () => {
    const ids = await fixtures();
    const { tasks } = await ok(TaskStatusListBody, await get(TASK_STATUS_LIST_PATH, ""));
    for (const task of tasks) {
      const one = await ok(TaskStatusBody, await get(TASK_STATUS_PATH, `?taskId=${task.taskId}`));
      expect({ ...one, checkedAt: "", secondsInStatus: 0 }).toEqual({ ...task, checkedAt: "", secondsInStatus: 0 });
    }
    expect(tasks.map((t) => t.taskId)).not.toContain(ids[6]);
    expect(await list("", ORG_8_TOKEN)).toEqual([ids[6]]);
  });

  it("pages: bounded, default 50, nextCursor null on the last page", async () => {
    await insertTasks(db, Array.from({ length: 120 }, () => ({ status: S.ToReview, ageSeconds: 60, organizationId: 7 })));
    const first = await ok(TaskStatusListBody, await get(TASK_STATUS_LIST_PATH, ""));
    expect(first.tasks).toHaveLength(50);
    expect(first.nextCursor).toEqual(expect.any(String));
    expect(await allPages("", 500)).toHaveLength(120);
    const exact = await ok(TaskStatusListBody, await get(TASK_STATUS_LIST_PATH, "?limit=120"));
    expect([exact.tasks.length, exact.nextCursor]).toEqual([120, null]);
  });

  it("while tasks change status between pages, no task that existed throughout is repeated or skipped", async () => {
    const statuses = [S.QueuedForProcessing, S.ProcessingInProgress, S.ToReview, S.ProcessingFailed, S.Processed];
    const original = await insertTasks(
      db,
      Array.from({ length: 60 }, (_, i) => ({ status: statuses[i % statuses.length]!, ageSeconds: (i % 7) * 3600, organizationId: 7 })),
    );
    // Between pages: tasks behind the cursor and ahead of it change status (the trigger moves
    // their status_changed_at too), new tasks arrive, and another organization's as well.
    const churn = async (page: number) => {
      await db.$executeRaw`UPDATE tasks SET status = CASE status WHEN 40 THEN 41 WHEN 41 THEN 50 WHEN 50 THEN 42 ELSE 40 END
        WHERE organization_id = 7 AND (id % 3) = ${page % 3}::int`;
      await insertTasks(db, [
        { status: S.ProcessingInProgress, ageSeconds: 0, organizationId: 7 },
        { status: S.ToReview, ageSeconds: 0, organizationId: 8 },
      ]);
    };
    const seen = await allPages("", 7, churn);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.filter((id) => original.includes(id)).sort((a, b) => a - b)).toEqual(original);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
  });

  it("with a filter, a task that matches throughout is listed exactly once while others move in and out", async () => {
    const steady = await insertTasks(db, Array.from({ length: 25 }, () => ({ status: S.ToReview, ageSeconds: 60, organizationId: 7, workspaceId: 1 })));
    const moving = await insertTasks(db, Array.from({ length: 25 }, () => ({ status: S.ToReview, ageSeconds: 60, organizationId: 7, workspaceId: 2 })));
    const churn = async (page: number) => {
      await db.$executeRaw`UPDATE tasks SET status = CASE WHEN status = 50 THEN 42 ELSE 50 END WHERE workspace_id = 2 AND (id % 2) = ${page % 2}::int`;
    };
    const seen = await allPages("?status=ToReview", 4, churn);
    expect(new Set(seen).size).toBe(seen.length);
    expect(steady.every((id) => seen.filter((s) => s === id).length === 1)).toBe(true);
    expect(seen.every((id) => steady.includes(id) || moving.includes(id))).toBe(true);
  });

  it("stuck by the effective rules: workspace overrides, switched-off workspaces and disabled rules, exactly as each item says", async () => {
    const rules = buildRules({
      ProcessingInProgress: { workspaces: [{ workspaceIds: [7], stuckAfter: "PT1H" }, { workspaceIds: [8], enabled: false }] },
      QueuedForExport: { enabled: false, workspaces: [{ workspaceIds: [9], stuckAfter: "PT10M" }] },
    });
    const cases: [number, number, number, boolean][] = [
      [S.ProcessingInProgress, 1, 2 * 3600, false],
      [S.ProcessingInProgress, 1, 5 * 3600, true],
      [S.ProcessingInProgress, 7, 2 * 3600, true],
      [S.ProcessingInProgress, 7, 1800, false],
      [S.ProcessingInProgress, 8, 30 * 86_400, false],
      [S.QueuedForExport, 1, 30 * 86_400, false],
      [S.QueuedForExport, 9, 1200, true],
      [S.QueuedForExport, 9, 300, false],
      [S.ExportFailed, 9, 30 * 86_400, false],
    ];
    const ids = await insertTasks(db, cases.map(([status, workspaceId, ageSeconds]) => ({ status, workspaceId, ageSeconds, organizationId: 7 })));
    // The handler is a plain function: called directly with these rules.
    const handler = taskStatusList({ authenticate: createAuthenticator({ tokens: [{ token: ORG_7_TOKEN, organizationId: 7 }], db }), db, rules });
    const call = async (query: string) => {
      const out = await handler({ method: "GET", path: TASK_STATUS_LIST_PATH, query: new URLSearchParams(query), headers: bearer(ORG_7_TOKEN) });
      expect(out.status).toBe(200);
      return TaskStatusListBody.parse(out.body).tasks;
    };
    const all = await call("");
    expect(all.map((t) => t.stuck)).toEqual(cases.map((c) => c[3]));
    expect((await call("stuck=true")).map((t) => t.taskId)).toEqual(ids.filter((_, i) => cases[i]![3]));
    expect((await call("stuck=false")).map((t) => t.taskId)).toEqual(ids.filter((_, i) => !cases[i]![3]));
  });
});

describe("GET …/sdtask/events", () => {
  it("one task's audit trail, oldest first, in pages; another organization's task is 404", async () => {
    const [task, other, org8] = await insertTasks(db, [
      { status: S.ProcessingFailed, ageSeconds: 60, organizationId: 7, externalId: "INV-1" },
      { status: S.ProcessingFailed, ageSeconds: 60, organizationId: 7 },
      { status: S.ProcessingFailed, ageSeconds: 60, organizationId: 8 },
    ]);
    await db.$executeRaw`INSERT INTO task_events (task_id, kind, from_status, to_status, reason, actor, sweep_id, stuck_since, details, created_at)
      SELECT ${task}::int, 'AUTO_REVERTED', 41, 42, 'stuck ' || n || ' h', 'watchdog', 'sweep-' || n, now() - interval '5 hours', jsonb_build_object('n', n), now() - (10 - n) * interval '1 minute'
      FROM generate_series(1, 5) n`;
    await db.$executeRaw`INSERT INTO task_events (task_id, kind, from_status, to_status, reason, actor, request_id)
      VALUES (${other}::int, 'REPROCESSED', 42, 30, 'reprocess requested', 'api:org-7:abcd1234', 'r-1'),
             (${task}::int, 'REPROCESSED', 42, 30, 'reprocess requested', 'api:org-7:abcd1234', 'r-2')`;

    const pages = [];
    let cursor: string | null = null;
    do {
      const body: z.output<typeof TaskEventListBody> = await ok(TaskEventListBody, await get(TASK_EVENTS_PATH, `?externalId=INV-1&limit=2${cursor ? `&cursor=${cursor}` : ""}`));
      expect(body.taskId).toBe(task);
      pages.push(body.events);
      cursor = body.nextCursor;
    } while (cursor !== null);
    expect(pages.map((p) => p.length)).toEqual([2, 2, 2]);
    const events = pages.flat();
    expect(events.map((e) => e.reason)).toEqual(["stuck 1 h", "stuck 2 h", "stuck 3 h", "stuck 4 h", "stuck 5 h", "reprocess requested"]);
    const ids = events.map((e) => BigInt(e.id.replace(/^evt_/, "")));
    expect(ids).toEqual([...ids].sort((a, b) => (a < b ? -1 : 1)));
    expect(events[0]).toMatchObject({ kind: "AUTO_REVERTED", fromStatus: 41, fromStatusName: "ProcessingInProgress", toStatus: 42, toStatusName: "ProcessingFailed", actor: "watchdog", sweepId: "sweep-1", details: { n: 1 }, requestId: null });
    expect(events[5]).toMatchObject({ kind: "REPROCESSED", requestId: "r-2", stuckSince: null, details: null });

    const all = await ok(TaskEventListBody, await get(TASK_EVENTS_PATH, `?taskId=${task}`));
    expect([all.events.length, all.nextCursor]).toEqual([6, null]);
    for (const query of [`?taskId=${org8}`, "?taskId=999999"]) expect((await get(TASK_EVENTS_PATH, query)).status).toBe(404);
    expect((await ok(TaskEventListBody, await get(TASK_EVENTS_PATH, `?taskId=${org8}`, bearer(ORG_8_TOKEN)))).events).toEqual([]);
  });
});

describe("refusals", () => {
  it.each([TASK_STATUS_PATH, TASK_STATUS_LIST_PATH, TASK_EVENTS_PATH])("%s: 401 with WWW-Authenticate: Bearer without a valid token, before the query is looked at", async (path) => {
    const none = await get(path, "?taskId=abc", {});
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toBe('Bearer realm="task-watchdog"');
    const wrong = await get(path, "?taskId=1", bearer(`${ORG_7_TOKEN.slice(0, -1)}X`));
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("www-authenticate")).toBe('Bearer realm="task-watchdog", error="invalid_token"');
    expect(ErrorBody.parse(await wrong.json()).error).toMatch(/token/);
  });

  const tasksCursor = encodeCursor("tasks", 5);
  const eventsCursor = encodeCursor("events", 5);
  it.each([
    [TASK_STATUS_PATH, "", /^the query must give exactly one of taskId or externalId$/],
    [TASK_STATUS_PATH, "?taskId=1&externalId=X", /exactly one of taskId or externalId/],
    [TASK_STATUS_PATH, "?taskId=1&taskId=2", /^taskId is given 2 times; give it once$/],
    [TASK_STATUS_PATH, "?taskId=abc", /^taskId must be a whole number from 1 to 2147483647, got the string "abc"$/],
    [TASK_STATUS_PATH, "?taskId=0", /^taskId must be a whole number/],
    [TASK_STATUS_PATH, "?taskId=2147483648", /^taskId must be a whole number/],
    [TASK_STATUS_PATH, "?taskId=1.5", /^taskId must be a whole number/],
    [TASK_STATUS_PATH, "?externalId=", /^externalId must be 1 to 1000 characters/],
    [TASK_STATUS_PATH, "?externalId=%20%20", /^externalId must not be blank/],
    [TASK_STATUS_PATH, `?externalId=${"x".repeat(1001)}`, /^externalId must be 1 to 1000 characters/],
    [TASK_STATUS_PATH, "?externalId=h-1%00", /^externalId must not contain control characters \(such as NUL or a newline\), got the string "h-1\\u0000"$/],
    [TASK_STATUS_PATH, "?externalId=a%0Db", /^externalId must not contain control characters/],
    [TASK_STATUS_PATH, "?taskId=1&dryRun=true", /^unknown query parameter "dryRun"; allowed: taskId, externalId/],
    [TASK_STATUS_PATH, "?TaskId=1", /unknown query parameter "TaskId"/],
    [TASK_STATUS_PATH, "?taskId=1&x%00y=1", /unknown query parameter "x\\u0000y"/],
    [TASK_STATUS_PATH, "?__proto__=1&taskId=1", /^unknown query parameter "__proto__"/],
    [TASK_STATUS_LIST_PATH, "?status=41&__proto__=1", /^unknown query parameter "__proto__"/],
    [TASK_STATUS_LIST_PATH, "?status=Nope", /^status\[0\] must be a TaskStatus code or name, e.g. 41 or "ProcessingInProgress", got the string "Nope"$/],
    [TASK_STATUS_LIST_PATH, "?status=41,", /^status\[1\] must be a TaskStatus code or name/],
    [TASK_STATUS_LIST_PATH, "?status=99999", /^status\[0\] must be a TaskStatus code or name/],
    [TASK_STATUS_LIST_PATH, `?status=${Array.from({ length: 51 }, () => "41").join(",")}`, /^status must list at most 50 statuses/],
    [TASK_STATUS_LIST_PATH, "?warning=yes", /^warning must be one of "true", "false", got the string "yes"$/],
    [TASK_STATUS_LIST_PATH, "?stuck=1", /^stuck must be one of "true", "false"/],
    [TASK_STATUS_LIST_PATH, "?stuck=true&stuck=false", /^stuck is given 2 times; give it once$/],
    [TASK_STATUS_LIST_PATH, "?location=attic", /^location must be one of "INBOX", "HISTORY" \(any case\), got the string "attic"$/],
    [TASK_STATUS_LIST_PATH, "?limit=0", /^limit must be a whole number from 1 to 500/],
    [TASK_STATUS_LIST_PATH, "?limit=501", /^limit must be a whole number from 1 to 500/],
    [TASK_STATUS_LIST_PATH, "?limit=99999999999999999999", /^limit must be a whole number from 1 to 500/],
    [TASK_STATUS_LIST_PATH, "?limit=ten", /^limit must be a whole number from 1 to 500/],
    [TASK_STATUS_LIST_PATH, "?cursor=not-a-cursor", /^cursor is not a cursor this endpoint gave out/],
    [TASK_STATUS_LIST_PATH, `?cursor=${eventsCursor}`, /^cursor is not a cursor this endpoint gave out/],
    [TASK_STATUS_LIST_PATH, `?cursor=${Buffer.from('{"k":"tasks","after":"99999999999"}').toString("base64url")}`, /^cursor is not a cursor/],
    [TASK_STATUS_LIST_PATH, "?taskId=1", /^unknown query parameter "taskId"; allowed: status, warning, stuck, location, changedSince, changedUntil, limit/],
    [TASK_EVENTS_PATH, `?taskId=1&cursor=${tasksCursor}`, /^cursor is not a cursor this endpoint gave out/],
    [TASK_EVENTS_PATH, "?taskId=1&limit=501", /^limit must be a whole number from 1 to 500/],
    [TASK_EVENTS_PATH, "?limit=5", /^the query must give exactly one of taskId or externalId$/],
  ])("%s%s → 400 naming the parameter", async (path, query, reason) => {
    const response = await get(path, query);
    expect(response.status).toBe(400);
    const { error } = ErrorBody.parse(await response.json());
    expect(error).toMatch(reason);
    // The header carries the same reason, in printable ASCII.
    expect(response.headers.get("x-error")).toMatch(/^[\x20-\x7e]+$/);
    expect(JSON.parse(`"${response.headers.get("x-error")!.replace(/"/g, '\\"').replace(/\\\\u/g, "\\u")}"`)).toBeDefined();
  });

  it("a non-ASCII value echoed in the reason reaches the header escaped, not as a 500", async () => {
    const response = await get(TASK_STATUS_LIST_PATH, `?status=${encodeURIComponent("Größe✓")}`);
    expect(response.status).toBe(400);
    expect(ErrorBody.parse(await response.json()).error).toContain("Größe✓");
    expect(response.headers.get("x-error")).toContain("Gr\\u00f6\\u00dfe\\u2713");
  });

  it("405 with Allow: GET, HEAD for another method", async () => {
    const response = await fetch(`${app.apiUrl}${TASK_STATUS_PATH}?taskId=1`, { method: "DELETE", headers: bearer(ORG_7_TOKEN) });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("GET, HEAD");
  });

  it("HEAD answers as GET does, with its headers and no body; without a token, 401 as GET", async () => {
    const [id] = await insertTasks(db, [{ status: S.ProcessingInProgress, ageSeconds: 600, organizationId: 7 }]);
    const get = await fetch(`${app.apiUrl}${TASK_STATUS_PATH}?taskId=${id}`, { headers: bearer(ORG_7_TOKEN) });
    const head = await fetch(`${app.apiUrl}${TASK_STATUS_PATH}?taskId=${id}`, { method: "HEAD", headers: bearer(ORG_7_TOKEN) });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-type")).toBe(get.headers.get("content-type"));
    expect(await head.text()).toBe("");
    expect((await fetch(`${app.apiUrl}${TASK_STATUS_PATH}?taskId=${id}`, { method: "HEAD" })).status).toBe(401);
  });
});
