// Bulk reprocess over HTTP against the whole running worker (startApp: the API, the pacing loop,
// the real database): the preview against the database's own counts, a bulk applied once per task
// through the reprocess statement (one REPROCESSED event each, carrying the bulk id), the
// Idempotency-Key, cancel, and every refusal. The pace itself and a killed worker have files of
// their own (bulk-reprocess-pace.test.ts, bulk-reprocess-kill.test.ts).
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { buildRules } from "../../src/rules/rules.js";
import { STATUSES, TaskStatus as S } from "../../src/rules/status.js";
import { BulkItemsBody, BulkPreviewBody, BulkProgressBody } from "../../src/reprocess/bulk-bodies.js";
import { BULK_ITEMS_PATH, BULK_REPROCESS_PATH } from "../../src/api/bulk-reprocess.js";
import { MAX_JSON_DEPTH } from "../../src/platform/strict-json.js";
import { insertTasks, resetTables, testDb, type TaskFixture } from "../support/db.js";
import { bulkProgress, cancelBulk, paceFigures, postBulk, waitUntilFinished } from "../support/bulk.js";
import { ORG_7_TOKEN, ORG_8_TOKEN, startApp, type RunningApp } from "./http-app.js";
import http from "node:http";

const db = testDb();
let app: RunningApp;
const RATE = 1000;

beforeAll(async () => {
  app = await startApp({ BULK_REPROCESS_RATE: String(RATE) });
});
afterAll(async () => {
  await app.stop();
  await db.$disconnect();
});
beforeEach(() => resetTables(db));
// No bulk of a test may run on into the next one (whose task ids restart at 1).
afterEach(async () => {
  await db.$executeRaw`UPDATE bulk_reprocesses SET state = 'CANCELLED', finished_at = now() WHERE state = 'RUNNING'`;
});

const ORG_7 = ORG_7_TOKEN;
const CHANGED_SINCE = "changedSince=2000-01-01T00:00:00Z";

/** Ten kinds of task, in turn: refused for each reason, and allowed for several. */
function mix(i: number): TaskFixture {
  const base = { organizationId: 7, externalId: `INV-${i}`, ...(i % 3 === 0 ? { edits: { fields: { total: String(i) } } } : {}) };
  switch (i % 10) {
    case 0: return { ...base, status: S.Deleting, ageSeconds: 2 * 3600 };
    case 1: return { ...base, status: S.Deleted, ageSeconds: 60 };
    case 2: return { ...base, status: S.ProcessingInProgress, ageSeconds: 600 };
    case 3: return { ...base, status: S.ProcessingInProgress, ageSeconds: 5 * 3600 };
    case 4: return { ...base, status: S.ProcessingFailed, ageSeconds: 60 };
    case 5: return { ...base, status: S.ToReview, ageSeconds: 60 };
    case 6: return { ...base, status: S.ExportInProgress, ageSeconds: 1800 };
    case 7: return { ...base, status: S.Processed, ageSeconds: 3 * 86_400, location: "HISTORY" };
    case 8: return { ...base, status: S.QueuedForProcessing, ageSeconds: 3 * 3600 };
    default: return { ...base, status: S.ExportFailed, ageSeconds: 60 };
  }
}

async function seed(count: number): Promise<number[]> {
  const ids = await insertTasks(db, Array.from({ length: count }, (_, i) => mix(i)));
  // Every seventh task has assignment work (a person completed a review) the reprocess resets.
  await db.$executeRaw`
    INSERT INTO task_assignments (task_id, user_id, position, status)
    SELECT id, 'user-1', 1, 'COMPLETED' FROM tasks WHERE organization_id = 7 AND id % 7 = 0`;
  // Another organization's tasks: never selected, never touched.
  await insertTasks(db, Array.from({ length: 50 }, () => ({ status: S.ProcessingFailed, ageSeconds: 60, organizationId: 8 })));
  return ids;
}

/** The categories counted by the database itself, from the rules' thresholds as data. */
async function databaseCounts(where: string) {
  const rules = buildRules();
  const transient = STATUSES.filter((s) => s.kind === "transient").map((s) => s.code);
  const thresholds = JSON.stringify(rules.map((r) => ({ status: r.status, seconds: r.stuckAfterSeconds })));
  const [row] = await db.$queryRawUnsafe<Record<string, number>[]>(`
    WITH t AS (
      SELECT t.*, (t.status IN (19, 20)) AS deleting,
             (t.status NOT IN (19, 20) AND t.status = ANY($1::int[]) AND (r.seconds IS NULL OR extract(epoch FROM now() - t.status_changed_at) <= r.seconds)) AS in_flight
      FROM tasks t LEFT JOIN jsonb_to_recordset($2::jsonb) AS r(status int, seconds int) ON r.status = t.status
      WHERE t.organization_id = 7 AND ${where}
    )
    SELECT count(*)::int AS matched,
           count(*) FILTER (WHERE deleting)::int AS deleting,
           count(*) FILTER (WHERE in_flight)::int AS in_flight,
           count(*) FILTER (WHERE NOT deleting AND NOT in_flight)::int AS would_apply,
           count(*) FILTER (WHERE NOT deleting AND NOT in_flight AND edits IS NOT NULL)::int AS discards_edits,
           count(*) FILTER (WHERE NOT deleting AND NOT in_flight AND EXISTS (SELECT 1 FROM task_assignments a WHERE a.task_id = t.id AND a.status <> 'PENDING'))::int AS resets_assignments
    FROM t`, transient, thresholds);
  return row!;
}

async function preview(query: string, body?: unknown, token = ORG_7) {
  const response = await postBulk(app.apiUrl, { query: `?dryRun=true${query ? `&${query}` : ""}`, body, token });
  const json = await response.json();
  expect(response.status, JSON.stringify(json)).toBe(200);
  return BulkPreviewBody.parse(json);
}

async function accepted(response: Response) {
  const json = await response.json();
  expect(response.status, JSON.stringify(json)).toBe(202);
  return BulkProgressBody.parse(json);
}

describe("the preview (dryRun=true)", () => {
  it("of 10,000 tasks by filter matches the database's own count of each category, and changes nothing", async () => {
    await seed(10_000);
    const before = await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM task_events`;

    const all = await preview(CHANGED_SINCE);
    const expected = await databaseCounts("true");
    expect(expected.matched).toBe(10_000);
    expect(all).toEqual({
      dryRun: true,
      force: false,
      matched: expected.matched,
      notFound: 0,
      wouldApply: expected.would_apply,
      wouldRefuse: { total: expected.deleting! + expected.in_flight!, byReason: { deleting: expected.deleting, in_flight: expected.in_flight, no_rule: 0 } },
      forcedPastGuard: 0,
      discardsEdits: expected.discards_edits,
      resetsAssignments: expected.resets_assignments,
    });
    // Each category is really there.
    expect(Math.min(expected.deleting!, expected.in_flight!, expected.would_apply!, expected.discards_edits!, expected.resets_assignments!)).toBeGreaterThan(500);

    // The status list's filters select as the status list does.
    const stuckOnly = await preview("stuck=true&status=ProcessingInProgress,QueuedForProcessing");
    const expectedStuck = await databaseCounts(`t.status IN (41, 40) AND t.location = 'INBOX' AND t.status_changed_at < now() - interval '2 hours'`);
    expect(stuckOnly).toMatchObject({ matched: expectedStuck.matched, wouldApply: expectedStuck.would_apply, wouldRefuse: { total: 0 } });

    // With force nothing is refused, and the preview says how many go past the guard.
    const forced = await preview(`${CHANGED_SINCE}&force=true`);
    expect(forced).toMatchObject({ force: true, wouldApply: 10_000, forcedPastGuard: expected.deleting! + expected.in_flight!, wouldRefuse: { total: 0 } });

    const after = await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM task_events`;
    expect(after).toEqual(before);
    expect(await db.$queryRaw`SELECT count(*)::int AS n FROM bulk_reprocesses`).toEqual([{ n: 0 }]);
  });

  it("of a list of ids counts the ids that name no task of the organization (another organization's too)", async () => {
    const [a, b] = await insertTasks(db, [
      { status: S.ProcessingFailed, ageSeconds: 60, organizationId: 7, externalId: "A" },
      { status: S.Deleting, ageSeconds: 60, organizationId: 7, externalId: "B" },
    ]);
    const [other] = await insertTasks(db, [{ status: S.ProcessingFailed, ageSeconds: 60, organizationId: 8, externalId: "C" }]);
    expect(await preview("", { taskIds: [a, b, other, 999_999, a] })).toMatchObject({ matched: 2, notFound: 2, wouldApply: 1, wouldRefuse: { total: 1, byReason: { deleting: 1 } } });
    expect(await preview("", { externalIds: ["A", "C", "nope"] })).toMatchObject({ matched: 1, notFound: 2, wouldApply: 1 });
  });
});

describe("a bulk reprocess", () => {
  it("is accepted (202, Location), applies every task the guard allows once through the reprocess statement, one REPROCESSED event each with the bulk id, and reports its progress", async () => {
    const ids = await seed(300);
    const response = await postBulk(app.apiUrl, { query: `?${CHANGED_SINCE}`, key: "k-300", token: ORG_7 });
    const bulk = await accepted(response);
    expect(bulk).toMatchObject({ state: "running", total: 300, applied: 0, pending: 300, force: false, selection: { filter: { changedSince: "2000-01-01T00:00:00.000Z" }, force: false } });
    expect(bulk.bulkId).toMatch(/^bulk_[0-9a-f]{32}$/);
    expect(response.headers.get("location")).toBe(`${BULK_REPROCESS_PATH}?bulkId=${bulk.bulkId}`);
    const expected = await databaseCounts("true");
    expect(bulk.preview).toMatchObject({ matched: 300, wouldApply: expected.would_apply });

    const done = await waitUntilFinished(app.apiUrl, ORG_7, bulk.bulkId, 20_000);
    expect(done).toMatchObject({ state: "done", total: 300, applied: expected.would_apply, refused: expected.deleting! + expected.in_flight!, notFound: 0, pending: 0 });
    expect(done.finishedAt).not.toBeNull();

    // Exactly the allowed tasks restarted, each once, each event naming the bulk and the caller.
    const events = await db.$queryRaw<{ task_id: number; n: number; bulk_id: string; actor: string; request_id: string }[]>`
      SELECT task_id, count(*)::int AS n, min(details ->> 'bulkId') AS bulk_id, min(actor) AS actor, min(request_id) AS request_id
      FROM task_events WHERE kind = 'REPROCESSED' GROUP BY task_id`;
    expect(events).toHaveLength(expected.would_apply!);
    expect(events.every((e) => e.n === 1 && e.bulk_id === bulk.bulkId && e.actor.startsWith("api:org-7:") && e.request_id.startsWith(`${bulk.bulkId}:`))).toBe(true);
    const [restarted] = await db.$queryRaw<{ n: number; deleting_touched: number }[]>`
      SELECT count(*) FILTER (WHERE restart_count = 1 AND status = 30 AND edits IS NULL)::int AS n,
             count(*) FILTER (WHERE status IN (19, 20) AND restart_count > 0)::int AS deleting_touched
      FROM tasks WHERE id = ANY(${ids}::int[])`;
    expect(restarted).toEqual({ n: expected.would_apply, deleting_touched: 0 });
    // A refused item says why, in the guard's words.
    const [refused] = await db.$queryRaw<{ reason: string }[]>`SELECT reason FROM bulk_reprocess_items WHERE outcome = 'REFUSED' ORDER BY position LIMIT 1`;
    expect(refused!.reason).toMatch(/^Conflict: task \d+ is Deleting \(19\): a restart would bring back a task being deleted/);

    // Its items, by outcome, in pages: every refused task with the guard's reason.
    const refusedItems: { taskId: number | null; reason: string | null; outcome: string }[] = [];
    let cursor: string | null = null;
    do {
      const page = await fetch(`${app.apiUrl}${BULK_ITEMS_PATH}?bulkId=${bulk.bulkId}&outcome=refused&limit=25${cursor ? `&cursor=${cursor}` : ""}`, { headers: { authorization: `Bearer ${ORG_7}` } });
      const body = BulkItemsBody.parse(await page.json());
      refusedItems.push(...body.items);
      cursor = body.nextCursor;
    } while (cursor !== null);
    expect(refusedItems).toHaveLength(expected.deleting! + expected.in_flight!);
    expect(refusedItems.every((i) => i.outcome === "refused" && /^Conflict: task \d+ is (Deleting|Deleted|ProcessingInProgress|ExportInProgress) /.test(i.reason ?? ""))).toBe(true);
    const other = await fetch(`${app.apiUrl}${BULK_ITEMS_PATH}?bulkId=${bulk.bulkId}`, { headers: { authorization: `Bearer ${ORG_8_TOKEN}` } });
    expect(other.status).toBe(404);
    expect(await db.$queryRaw`SELECT count(*)::int AS n FROM tasks WHERE organization_id = 8 AND restart_count > 0`).toEqual([{ n: 0 }]);
  });

  it("by ids: ids of no task of the organization end as not found, the others applied in the order given; force restarts what the guard refuses, audited as forced", async () => {
    const [a, b, deleting] = await insertTasks(db, [
      { status: S.ProcessingFailed, ageSeconds: 60, organizationId: 7 },
      { status: S.ToReview, ageSeconds: 60, organizationId: 7, externalId: "EXT-B" },
      { status: S.Deleting, ageSeconds: 60, organizationId: 7 },
    ]);
    const [other] = await insertTasks(db, [{ status: S.ProcessingFailed, ageSeconds: 60, organizationId: 8 }]);
    const bulk = await accepted(await postBulk(app.apiUrl, { query: "?force=true", body: { taskIds: [b, 999_999, other, a, deleting] }, key: "ids", token: ORG_7 }));
    const done = await waitUntilFinished(app.apiUrl, ORG_7, bulk.bulkId, 10_000);
    expect(done).toMatchObject({ state: "done", total: 5, applied: 3, refused: 0, notFound: 2, force: true, selection: { taskIds: 5, force: true } });
    const order = await db.$queryRaw<{ task_id: number; forced: string; reason: string }[]>`
      SELECT task_id, details ->> 'forced' AS forced, reason FROM task_events WHERE kind = 'REPROCESSED' ORDER BY id`;
    expect(order.map((e) => e.task_id)).toEqual([b, a, deleting]);
    expect(order.every((e) => e.forced === "true")).toBe(true);
    expect(order[2]!.reason).toMatch(/\(guard overridden\)$/);
    expect(await db.$queryRaw`SELECT restart_count FROM tasks WHERE id = ${other}`).toEqual([{ restart_count: 0 }]);

    // By external ids: EXT-B was just restarted (fresh in QueuedForPreProcessing, so the guard refuses it).
    await insertTasks(db, [{ status: S.ToReview, ageSeconds: 60, organizationId: 7, externalId: "EXT-D" }]);
    const byExternal = await accepted(await postBulk(app.apiUrl, { body: { externalIds: ["EXT-D", "EXT-B", "EXT-NONE"] }, key: "ext", token: ORG_7 }));
    expect(await waitUntilFinished(app.apiUrl, ORG_7, byExternal.bulkId, 10_000)).toMatchObject({ applied: 1, refused: 1, notFound: 1 });
    const [notFound] = await db.$queryRaw<{ reason: string }[]>`SELECT reason FROM bulk_reprocess_items WHERE bulk_id = ${byExternal.bulkId} AND outcome = 'NOT_FOUND'`;
    expect(notFound!.reason).toBe('NotFound: no task with externalId "EXT-NONE" in organization 7');
  });

  it("is another organization's 404, for its progress and its cancel", async () => {
    await insertTasks(db, [{ status: S.ProcessingFailed, ageSeconds: 60, organizationId: 7 }]);
    const bulk = await accepted(await postBulk(app.apiUrl, { body: { taskIds: [1] }, key: "mine", token: ORG_7 }));
    const response = await fetch(`${app.apiUrl}${BULK_REPROCESS_PATH}?bulkId=${bulk.bulkId}`, { headers: { authorization: `Bearer ${ORG_8_TOKEN}` } });
    expect(response.status).toBe(404);
    expect((await cancelBulk(app.apiUrl, ORG_8_TOKEN, bulk.bulkId)).status).toBe(404);
    // The same key is another organization's own.
    await insertTasks(db, [{ status: S.ProcessingFailed, ageSeconds: 60, organizationId: 8 }]);
    const theirs = await accepted(await postBulk(app.apiUrl, { body: { taskIds: [2] }, key: "mine", token: ORG_8_TOKEN }));
    expect(theirs.bulkId).not.toBe(bulk.bulkId);
  });
});

describe("Idempotency-Key", () => {
  it("the same key twice — one after the other, and ten at once — starts one bulk; each answer names it", async () => {
    await seed(100);
    const call = { query: `?${CHANGED_SINCE}`, key: "same-key", token: ORG_7 };
    const first = await accepted(await postBulk(app.apiUrl, call));
    const again = await postBulk(app.apiUrl, call);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect((await accepted(again)).bulkId).toBe(first.bulkId);

    // Ten at once: one starts the bulk; one that comes while it holds the organization's start lock
    // is told to retry (503) rather than wait, and its retry names the same bulk.
    const concurrent = { ...call, key: "concurrent-key" };
    const together = await Promise.all(Array.from({ length: 10 }, () => postBulk(app.apiUrl, concurrent)));
    const answered = await Promise.all(together.map((r) => (r.status === 503 ? postBulk(app.apiUrl, concurrent) : r)));
    const bodies = await Promise.all(answered.map(accepted));
    expect(new Set(bodies.map((b) => b.bulkId)).size).toBe(1);
    expect(answered.filter((r) => r.headers.get("idempotent-replayed") === null)).toHaveLength(1);

    expect(await db.$queryRaw`SELECT idempotency_key, total FROM bulk_reprocesses ORDER BY created_at`).toEqual([
      { idempotency_key: "same-key", total: 100 },
      { idempotency_key: "concurrent-key", total: 100 },
    ]);
    // Filters written another way are the same request.
    const sameFilter = await postBulk(app.apiUrl, { query: `?changedSince=2000-01-01T01:00:00%2B01:00`, key: "same-key", token: ORG_7 });
    expect((await accepted(sameFilter)).bulkId).toBe(first.bulkId);
  });

  it("the same key with a different request is a 422 naming the bulk it started; no key is a 400", async () => {
    await seed(20);
    const first = await accepted(await postBulk(app.apiUrl, { query: `?${CHANGED_SINCE}`, key: "k", token: ORG_7 }));
    for (const other of [{ query: `?${CHANGED_SINCE}&force=true` }, { query: "?status=41" }, { body: { taskIds: [1, 2] } }]) {
      const response = await postBulk(app.apiUrl, { ...other, key: "k", token: ORG_7 });
      expect(response.status).toBe(422);
      expect(response.headers.get("x-error")).toContain(`Idempotency-Key "k" already started bulk ${first.bulkId}`);
      expect(response.headers.get("x-error")).toContain("for a different request; send a new key for a new bulk");
    }
    const none = await postBulk(app.apiUrl, { query: `?${CHANGED_SINCE}`, token: ORG_7 });
    expect(none.status).toBe(400);
    expect(none.headers.get("x-error")).toMatch(/^Idempotency-Key header required/);
    expect(await db.$queryRaw`SELECT count(*)::int AS n FROM bulk_reprocesses`).toEqual([{ n: 1 }]);
  });
});

describe("cancel", () => {
  it("stops a running bulk at once: once the cancel has answered, no further task is ever applied", async () => {
    await insertTasks(db, Array.from({ length: 3000 }, () => ({ status: S.ProcessingFailed, ageSeconds: 60, organizationId: 7 })));
    const bulk = await accepted(await postBulk(app.apiUrl, { query: `?${CHANGED_SINCE}`, key: "to-cancel", token: ORG_7 }));
    await expect.poll(async () => (await bulkProgress(app.apiUrl, ORG_7, bulk.bulkId)).applied, { timeout: 10_000, interval: 20 }).toBeGreaterThan(200);

    const sentAt = Date.now();
    const response = await cancelBulk(app.apiUrl, ORG_7, bulk.bulkId);
    const latencyMs = Date.now() - sentAt;
    const body = BulkProgressBody.parse(await response.json());
    const [{ answered_at }] = (await db.$queryRaw<{ answered_at: Date }[]>`SELECT clock_timestamp() AS answered_at`) as [{ answered_at: Date }];
    expect(response.status).toBe(200);
    expect(body).toMatchObject({ state: "cancelled", cancelledBy: expect.stringMatching(/^api:org-7:/) });
    expect(body.pending).toBeGreaterThan(0);
    expect(latencyMs).toBeLessThan(1000);

    // Ten ticks of the loop later: nothing more was applied, and the counts are the rows' own.
    await new Promise((resolve) => setTimeout(resolve, 10 * 100));
    const [after] = await db.$queryRaw<{ applied: number; events: number; last: Date | null }[]>`
      SELECT (SELECT count(*)::int FROM bulk_reprocess_items WHERE outcome = 'APPLIED') AS applied,
             (SELECT count(*)::int FROM task_events WHERE kind = 'REPROCESSED') AS events,
             (SELECT max(created_at) FROM task_events WHERE kind = 'REPROCESSED') AS last`;
    expect(after!.applied).toBe(body.applied);
    expect(after!.events).toBe(body.applied);
    expect(after!.last!.getTime()).toBeLessThanOrEqual(answered_at.getTime());
    console.log(`cancel: answered in ${latencyMs} ms with ${body.applied} applied, ${body.pending} never to run; last reprocess ${answered_at.getTime() - after!.last!.getTime()} ms before the answer`);

    expect((await cancelBulk(app.apiUrl, ORG_7, bulk.bulkId)).status).toBe(200); // again: still cancelled

    // The same key and request again: that bulk as it is now, cancelled, never started again (docs/reprocess.md).
    const retried = await postBulk(app.apiUrl, { query: `?${CHANGED_SINCE}`, key: "to-cancel", token: ORG_7 });
    expect(retried.headers.get("idempotent-replayed")).toBe("true");
    expect(await accepted(retried)).toMatchObject({ bulkId: bulk.bulkId, state: "cancelled", applied: body.applied });
    expect(await db.$queryRaw`SELECT count(*)::int AS n FROM bulk_reprocesses`).toEqual([{ n: 1 }]);
  });

  it("of a finished bulk is a 409 saying it is done", async () => {
    await insertTasks(db, [{ status: S.ProcessingFailed, ageSeconds: 60, organizationId: 7 }]);
    const bulk = await accepted(await postBulk(app.apiUrl, { body: { taskIds: [1] }, key: "done", token: ORG_7 }));
    await waitUntilFinished(app.apiUrl, ORG_7, bulk.bulkId, 10_000);
    const response = await cancelBulk(app.apiUrl, ORG_7, bulk.bulkId);
    expect(response.status).toBe(409);
    expect(response.headers.get("x-error")).toMatch(/is already done \(1 applied, 0 refused, 0 not found\): nothing to cancel$/);
  });
});

describe("refusals", () => {
  it.each([
    ["no selection at all", "", undefined, 400, /^no selection: send \{ "taskIds": \[\.\.\.\] \}/],
    ["ids and filters together", "?status=41", { taskIds: [1] }, 400, /^give ids in the body or filters in the query, not both \(got a body and status\)$/],
    ["both kinds of ids", "", { taskIds: [1], externalIds: ["a"] }, 400, /exactly one of taskIds or externalIds, got both/],
    ["an unknown body field", "", { taskIDs: [1] }, 400, /unknown field "taskIDs"/],
    ["an id out of range", "", { taskIds: [0] }, 400, /taskIds\[0\] must be a whole number from 1 to 2147483647/],
    ["a string id", "", { taskIds: ["7"] }, 400, /taskIds\[0\] must be a JSON number/],
    ["an unknown parameter", "?stuck=true&limt=5", undefined, 400, /unknown query parameter "limt"/],
    ["a paging parameter of the list", "?stuck=true&limit=5", undefined, 400, /unknown query parameter "limit"/],
    ["a bad instant", "?changedSince=yesterday", undefined, 400, /changedSince must be an ISO 8601 date-time with a time zone/],
    ["a filter that matches nothing", "?status=33", undefined, 422, /^the filter matches no task of your organization: nothing to reprocess$/],
  ])("%s", async (_case, query, body, status, message) => {
    await insertTasks(db, [{ status: S.ProcessingFailed, ageSeconds: 60, organizationId: 7 }]);
    const response = await postBulk(app.apiUrl, { query, body, key: "k", token: ORG_7 });
    expect(response.status).toBe(status);
    expect(response.headers.get("x-error")).toMatch(message);
    expect(await response.json()).toEqual({ error: response.headers.get("x-error") });
  });

  it("250 bad ids are one short refusal: the first few named, the rest counted (a 14 kB X-Error broke clients' header limits)", async () => {
    const response = await postBulk(app.apiUrl, { body: { taskIds: Array.from({ length: 250 }, () => 0) }, key: "k", token: ORG_7 });
    expect(response.status).toBe(400);
    const error = response.headers.get("x-error")!;
    expect(error).toMatch(/^taskIds\[0\] must be a whole number from 1 to 2147483647, got number 0; taskIds\[1\] must be/);
    expect(error).toMatch(/; and 245 more \(250 in all\)$/);
    expect(error.length).toBeLessThan(1000);
  });

  it("two Idempotency-Key headers are refused (400), not joined into one key \"a, b\"; nothing starts", async () => {
    await insertTasks(db, [{ status: S.ProcessingFailed, ageSeconds: 60, organizationId: 7 }]);
    const body = JSON.stringify({ taskIds: [1] });
    // node:http sends an array as two header lines (fetch would join them into one).
    const answer = await new Promise<{ status: number; error: string }>((resolve, reject) => {
      const request = http.request(`${app.apiUrl}${BULK_REPROCESS_PATH}`, {
        method: "POST",
        headers: { authorization: `Bearer ${ORG_7}`, "content-type": "application/json", "idempotency-key": ["a", "b"] },
      });
      request.on("response", (response) => {
        response.resume();
        resolve({ status: response.statusCode!, error: String(response.headers["x-error"]) });
      });
      request.on("error", reject);
      request.end(body);
    });
    expect(answer.status).toBe(400);
    expect(answer.error).toMatch(/^Idempotency-Key given 2 times/);
    expect(await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM bulk_reprocesses`).toEqual([{ n: 0 }]);
  });

  it("a body naming a key twice is refused (400), not decided by the last one; nothing starts", async () => {
    await insertTasks(db, [{ status: S.ProcessingFailed, ageSeconds: 60, organizationId: 7 }]);
    const response = await fetch(`${app.apiUrl}${BULK_REPROCESS_PATH}`, {
      method: "POST",
      headers: { authorization: `Bearer ${ORG_7}`, "idempotency-key": "twice", "content-type": "application/json" },
      body: '{"taskIds": [999999], "taskIds": [1]}',
    });
    expect(response.status).toBe(400);
    expect(response.headers.get("x-error")).toBe('the body is not valid JSON: the key "taskIds" is given twice at the top level; give each key once');
    expect(await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM bulk_reprocesses`).toEqual([{ n: 0 }]);
  });

  it("a body of JSON nested 10,000 deep (20 KB) is a 400 naming the depth, not a 500 and an error log", async () => {
    const response = await fetch(`${app.apiUrl}${BULK_REPROCESS_PATH}`, {
      method: "POST",
      headers: { authorization: `Bearer ${ORG_7}`, "idempotency-key": "deep", "content-type": "application/json" },
      body: `{"taskIds": ${"[".repeat(10_000)}${"]".repeat(10_000)}}`,
    });
    expect({ status: response.status, error: response.headers.get("x-error") }).toEqual({
      status: 400,
      error: `the body is not valid JSON: it nests 10001 levels deep; at most ${MAX_JSON_DEPTH} are read`,
    });
    expect(await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM bulk_reprocesses`).toEqual([{ n: 0 }]);
  });

  it("without a valid token, the body is not parsed: malformed, deep, a key twice or not JSON, the answer is 401 (over 2 MiB, 413 before it is read)", async () => {
    const url = `${app.apiUrl}${BULK_REPROCESS_PATH}`;
    const bodies: [string, string][] = [
      ["application/json", "{"],
      ["application/json", `{"taskIds": ${"[".repeat(10_000)}${"]".repeat(10_000)}}`],
      ["application/json", '{"taskIds": [1], "taskIds": [2]}'],
      ["text/plain", "1,2,3"],
    ];
    for (const [type, body] of bodies) {
      for (const authorization of [undefined, "Bearer wd_not-a-token"]) {
        const response = await fetch(url, { method: "POST", headers: { "content-type": type, "idempotency-key": "k", ...(authorization ? { authorization } : {}) }, body });
        expect({ status: response.status, type, size: body.length, authorization }).toEqual({ status: 401, type, size: body.length, authorization });
        await response.arrayBuffer();
      }
    }
    expect(await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM bulk_reprocesses`).toEqual([{ n: 0 }]);
  });

  it("a body that is not JSON (415, 400), without a token (401), and a malformed bulk id (400)", async () => {
    const url = `${app.apiUrl}${BULK_REPROCESS_PATH}`;
    const auth = { authorization: `Bearer ${ORG_7}`, "idempotency-key": "k" };
    expect((await fetch(url, { method: "POST", headers: { ...auth, "content-type": "text/plain" }, body: "1,2,3" })).status).toBe(415);
    expect((await fetch(url, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: "{" })).status).toBe(400);
    expect((await fetch(url, { method: "POST", body: "{}", headers: { "content-type": "application/json" } })).status).toBe(401);
    const bad = await fetch(`${url}?bulkId=../../etc`, { headers: auth });
    expect(bad.status).toBe(400);
    expect(bad.headers.get("x-error")).toMatch(/bulkId must be a bulk id as the 202 gave it/);
  });
});
