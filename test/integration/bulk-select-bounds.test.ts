// A bulk reprocess's `stuck=true` selection reads the stuck-looking rows of the watched statuses,
// not the organization. On a skewed table (bench/skewed-tasks.ts: one organization with 4 in 5 of
// 20,000 tasks and nothing stuck in it), the statement selectBulkTasks sends runs under
// EXPLAIN (ANALYZE, BUFFERS): the rows its scans of tasks produce or throw away are held to the
// platform's inbox tasks older than their status's shortest threshold (what the inbox index's
// ranges hold), never the big organization's 16,000. And the selection is the domain's verdict.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectBulkTasks, selectBulkTasksSql } from "../../src/reprocess/sql/select-bulk-tasks.js";
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
