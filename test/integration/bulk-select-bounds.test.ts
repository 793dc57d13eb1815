// A bulk reprocess's `stuck=true` selection reads the stuck-looking rows of the watched statuses,
// not the organization. On a skewed table (bench/skewed-tasks.ts: one organization with 4 in 5 of
// 20,000 tasks and nothing stuck in it), the statement selectBulkTasks sends runs under
// EXPLAIN (ANALYZE, BUFFERS): the rows its scans of tasks produce or throw away are held to the
// platform's inbox tasks older than their status's shortest threshold (what the inbox index's
// ranges hold), never the big organization's 16,000. And the selection is the domain's verdict.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { countCandidatesSql, selectBulkTasks, selectBulkTasksSql } from "../../src/reprocess/sql/select-bulk-tasks.js";
import { askBulk } from "../../src/reprocess/bulk-service.js";
import { MAX_BULK_TASKS } from "../../src/reprocess/bulk-request.js";
import { buildRules } from "../../src/rules/rules.js";
import { stuckThresholds, stuckVerdict } from "../../src/rules/stuck.js";
import { BIG_ORG, SMALL_ORG } from "../../bench/skewed-tasks.js";
import { resetTables, testDb } from "../support/db.js";
import { planCost, seedSkewedTable } from "../support/query-plan.js";

const ROWS = 20_000;
const db = testDb();
// An override that switches ProcessingInProgress on earlier in two workspaces and off in one.
const rules = buildRules({ ProcessingInProgress: { workspaces: [{ workspaceIds: [2071, 2072], stuckAfter: "PT1H" }, { workspaceIds: [2073], enabled: false }] } });
const thresholds = stuckThresholds(rules);
const stuck = { statuses: null, warning: null, location: null, stuck: true } as const;



beforeAll(() => seedSkewedTable(ROWS), 120_000);

afterAll(async () => {
  await resetTables(db);
  await db.$disconnect();
});

describe("bulk reprocess, stuck=true, in an organization of 16,000 tasks with none stuck", () => {
  it("reads only the inbox tasks past their status's shortest threshold, not the organization", async () => {
    // The most the inbox index's ranges can hold: every inbox task of a watched status older than
    // the shortest threshold that status has anywhere (1 hour for ProcessingInProgress here).
    const shortest = new Map<number, number>();
    for (const t of [...thresholds.defaults, ...thresholds.overrides])
      if (t.stuckAfterSeconds !== null) shortest.set(t.status, Math.min(t.stuckAfterSeconds, shortest.get(t.status) ?? Infinity));
    const [{ candidates, big }] = (await db.$queryRaw<{ candidates: number; big: number }[]>`
      SELECT count(*) FILTER (WHERE t.location = 'INBOX' AND t.status_changed_at < now() - th.seconds * interval '1 second')::int AS candidates,
             count(*) FILTER (WHERE t.organization_id = ${BIG_ORG})::int AS big
      FROM tasks t LEFT JOIN unnest(${[...shortest.keys()]}::int[], ${[...shortest.values()]}::int[]) AS th(status, seconds) ON th.status = t.status`) as [{ candidates: number; big: number }];
    expect(big).toBe(ROWS * 0.8);

    const cost = await planCost(db, selectBulkTasksSql(BIG_ORG, { kind: "filter", filter: stuck }, thresholds, MAX_BULK_TASKS), "tasks");
    expect(cost.rowsRead, `rows of tasks read (the platform has ${candidates} inbox tasks past their status's shortest threshold; the organization ${big} tasks)`).toBeLessThanOrEqual(candidates);
    expect(cost.seqScans, "sequential scans of tasks").toBe(0);
  });

  it("selects exactly the tasks the domain's verdict calls stuck, in id order, in the big and in a small organization", async () => {
    for (const organizationId of [BIG_ORG, SMALL_ORG, SMALL_ORG + 1]) {
      const all = await db.$queryRaw<{ id: number; status: number; workspace_id: number; location: "INBOX" | "HISTORY"; seconds: number }[]>`
        SELECT id, status::int AS status, workspace_id, location::text AS location, extract(epoch FROM now() - status_changed_at)::float8 AS seconds
        FROM tasks WHERE organization_id = ${organizationId}::int ORDER BY id`;
      const expected = all
        .filter((r) => stuckVerdict(rules, { status: r.status, workspaceId: r.workspace_id, location: r.location, secondsInStatus: r.seconds }).stuck)
        .map((r) => r.id);
      const selected = await selectBulkTasks(db, organizationId, { kind: "filter", filter: stuck }, thresholds, MAX_BULK_TASKS);
      expect(selected.tasks.map((t) => t.id), `organization ${organizationId}`).toEqual(expected);
      expect(selected.tooMany).toBe(false);
    }
  });

  it("says there are too many when one status alone has more than the limit", async () => {
    const filter = { ...stuck, statuses: [41] };
    const all = await selectBulkTasks(db, SMALL_ORG, { kind: "filter", filter }, thresholds, MAX_BULK_TASKS);
    expect(all.tasks.length).toBeGreaterThanOrEqual(2);
    const selected = await selectBulkTasks(db, SMALL_ORG, { kind: "filter", filter }, thresholds, all.tasks.length - 1);
    expect(selected.tooMany).toBe(true);
    expect(selected.tasks.map((t) => t.id)).toEqual(all.tasks.slice(0, -1).map((t) => t.id));
  });
});

// A filter with a condition no index serves (location, changedSince/changedUntil, stuck=false,
// warning=false) is checked task by task over its candidates: the tasks of its statuses, or the
// organization's. In an organization of 100M tasks that passed the statement timeout — answered 503
// "try again", and every retry read the organization again. Now the candidates are counted first, the
// count stopped past a budget, and a filter over more is refused: nothing selected, nothing started.
describe("bulk reprocess by a filter no index serves, in an organization of 16,000 tasks", () => {
  const none = { statuses: null, warning: null, location: "HISTORY", stuck: null, changedSince: new Date(Date.now() + 3_600_000) } as const;

  it("counts its candidates no further than the budget, then refuses the filter as too broad and selects nothing", async () => {
    const selected = await selectBulkTasks(db, BIG_ORG, { kind: "filter", filter: none }, thresholds, MAX_BULK_TASKS, 5_000);
    expect(selected).toEqual({ tasks: [], notFound: [], tooMany: false, tooBroad: 5_001 });
    // The count, under EXPLAIN (ANALYZE): the organization's index entries up to the budget, not its tasks.
    const cost = await planCost(db, countCandidatesSql(BIG_ORG, none, 5_000)!, "tasks");
    expect(cost.rowsRead, "index entries of tasks the count read").toBeLessThanOrEqual(5_001);
    expect(cost.seqScans, "sequential scans of tasks").toBe(0);
  });

  it("selects exactly what matches, in id order, when the candidates are within the budget", async () => {
    const since = new Date(Date.now() - 3 * 86_400_000);
    const filter = { ...none, changedSince: since };
    const expected = (await db.$queryRaw<{ id: number }[]>`
      SELECT id FROM tasks WHERE organization_id = ${BIG_ORG}::int AND location = 'HISTORY' AND status_changed_at >= ${since}::timestamptz ORDER BY id`).map((r) => r.id);
    expect(expected.length).toBeGreaterThan(0);
    const selected = await selectBulkTasks(db, BIG_ORG, { kind: "filter", filter }, thresholds, MAX_BULK_TASKS, ROWS * 0.8);
    expect(selected.tooBroad).toBeNull();
    expect(selected.tooMany).toBe(false);
    expect(selected.tasks.map((t) => t.id)).toEqual(expected);
  });

  it("counts only the tasks of its statuses when it names some; a filter an index serves whole is not counted", async () => {
    const [{ inStatus }] = (await db.$queryRaw<{ inStatus: number }[]>`
      SELECT count(*)::int AS "inStatus" FROM tasks WHERE organization_id = ${BIG_ORG}::int AND status = 70`) as [{ inStatus: number }];
    expect(inStatus).toBeLessThan(ROWS * 0.8);
    const narrowed = { ...none, statuses: [70] };
    expect((await selectBulkTasks(db, BIG_ORG, { kind: "filter", filter: narrowed }, thresholds, MAX_BULK_TASKS, inStatus)).tooBroad).toBeNull();
    expect((await selectBulkTasks(db, BIG_ORG, { kind: "filter", filter: narrowed }, thresholds, MAX_BULK_TASKS, inStatus - 1)).tooBroad).toBe(inStatus);

    const served = { statuses: [70], warning: null, location: null, stuck: null } as const;
    expect(countCandidatesSql(BIG_ORG, served, 10)).toBeNull();
    const selected = await selectBulkTasks(db, BIG_ORG, { kind: "filter", filter: served }, thresholds, 100, 10);
    expect(selected).toMatchObject({ tooMany: true, tooBroad: null });
    expect(selected.tasks).toHaveLength(100);
  });

  it("then the bulk is refused (422), naming the budget and how to narrow the filter; nothing is started", async () => {
    const answer = await askBulk({ db, rules, candidateBudget: 5_000, maxRunning: 10 }, {
      organizationId: BIG_ORG,
      request: { selection: { kind: "filter", filter: none }, dryRun: false, force: false },
      idempotencyKey: "too-broad-1",
      requestedBy: "test",
    });
    expect(answer).toEqual({ kind: "unprocessable", error: expect.stringMatching(/more than 5000 of your organization's tasks: narrow it with status=.*by their ids; nothing was started$/) });
    const [{ n }] = (await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM bulk_reprocesses`) as [{ n: number }];
    expect(n).toBe(0);
  });
});
