// The read API's status list reads a bounded multiple of its page, for every filter alone and
// combined, on a skewed table (bench/skewed-tasks.ts): one organization holds 4 in 5 of 100,000
// tasks and has NO task matching several filters (status 33, warning, stuck, in progress in
// history). Counted, not guessed: each page's statement — the one the handler sends — runs under
// EXPLAIN (ANALYZE, BUFFERS), and the rows every scan of tasks produced or threw away, and the
// buffers the statement touched, are held to the page size. Pages 1–3 by following the cursor,
// and a page from the middle of the organization.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as Prisma from "../../src/platform/db/sql.js";
import { listTaskStatuses, listTaskStatusesSql, stuckLookup, type TaskStatusFilter } from "../../src/api/read-api/sql/list-task-statuses.js";
import { buildRules } from "../../src/rules/rules.js";
import { stuckThresholds, stuckVerdict } from "../../src/rules/stuck.js";
import { BIG_ORG, SMALL_ORG, STATUS_LIST_FILTERS } from "../../bench/skewed-tasks.js";
import { resetTables, testDb } from "../support/db.js";
import { planCost, seedSkewedTable, type PlanCost } from "../support/query-plan.js";

const ROWS = 100_000;
const LIMIT = 50;
/** The target: a page reads at most this many rows of tasks. */
const MAX_ROWS_READ = 10 * LIMIT;
/** …and touches at most this many buffers: a row looked up by id costs its index path (3–4 pages) and its heap page. */
const MAX_BUFFERS = 25 * LIMIT;

const db = testDb();
const rules = buildRules({ ProcessingInProgress: { workspaces: [{ workspaceIds: [2071, 2072], stuckAfter: "PT1H" }] } });
const lookup = stuckLookup(stuckThresholds(rules));


type Cost = Pick<PlanCost, "rowsRead" | "buffers">;

/** What a page's statement costs in tasks; nothing when no statement is sent (nothing can match). */
async function explainAnalyze(sql: Prisma.Sql | undefined, runner: Pick<typeof db, "$queryRaw"> = db): Promise<Cost> {
  return sql === undefined ? { rowsRead: 0, buffers: 0 } : planCost(runner, sql, "tasks");
}

/** One page as the handler reads it, its cost, and where the next page starts (null: the last page). */
async function page(organizationId: number, filter: TaskStatusFilter, afterId: number): Promise<Cost & { ids: number[]; next: number | null }> {
  const cost = await explainAnalyze(listTaskStatusesSql(organizationId, filter, lookup, afterId, LIMIT)?.sql);
  const result = await listTaskStatuses(db, organizationId, filter, lookup, afterId, LIMIT);
  return { ...cost, ids: result.tasks.map((t) => t.id), next: result.nextAfterId };
}

let middleId = 0;

beforeAll(
  () =>
    seedSkewedTable(ROWS, async (client) => {
      middleId = (await client.query<{ id: number }>(`SELECT id FROM tasks WHERE organization_id = $1 ORDER BY id OFFSET $2 LIMIT 1`, [BIG_ORG, (ROWS * 0.8) / 2])).rows[0]!.id;
    }),
  120_000,
);

afterAll(async () => {
  await resetTables(db);
  await db.$disconnect();
});

describe("given one organization with 80,000 of 100,000 tasks and none matching several filters", () => {
  it("the fixture is as skewed as it says", async () => {
    const [shape] = await db.$queryRaw<{ big: number; big_33: number; big_warning: number; small_33: number; small_warning: number; small_stuck: number }[]>`
      SELECT count(*) FILTER (WHERE organization_id = ${BIG_ORG})::int AS big,
             count(*) FILTER (WHERE organization_id = ${BIG_ORG} AND status = 33)::int AS big_33,
             count(*) FILTER (WHERE organization_id = ${BIG_ORG} AND warning)::int AS big_warning,
             count(*) FILTER (WHERE organization_id = ${SMALL_ORG} AND status = 33)::int AS small_33,
             count(*) FILTER (WHERE organization_id = ${SMALL_ORG} AND warning)::int AS small_warning,
             count(*) FILTER (WHERE organization_id = ${SMALL_ORG} AND status = 41 AND status_changed_at < now() - interval '4 hours')::int AS small_stuck
      FROM tasks`;
    expect(shape).toMatchObject({ big: ROWS * 0.8, big_33: 0, big_warning: 0 });
    expect(shape!.small_33).toBeGreaterThan(0);
    expect(shape!.small_warning).toBeGreaterThan(0);
    expect(shape!.small_stuck).toBeGreaterThan(0);
  });

  it.each(STATUS_LIST_FILTERS)("%s: pages 1–3 and a page from the middle each read at most 10× the page size", async (_name, filter) => {
    const costs: (Cost & { page: string })[] = [];
    let after: number | null = 0;
    for (let n = 1; n <= 3 && after !== null; n++) {
      const p = await page(BIG_ORG, filter, after);
      costs.push({ page: `page ${n}`, rowsRead: p.rowsRead, buffers: p.buffers });
      after = p.next;
    }
    const middle = await page(BIG_ORG, filter, middleId);
    costs.push({ page: "middle", rowsRead: middle.rowsRead, buffers: middle.buffers });
    for (const cost of costs) {
      expect(cost.rowsRead, `${cost.page}: rows read (${cost.buffers} buffers)`).toBeLessThanOrEqual(MAX_ROWS_READ);
      expect(cost.buffers, `${cost.page}: buffers (${cost.rowsRead} rows read)`).toBeLessThanOrEqual(MAX_BUFFERS);
      // …and the buffers go to those rows: no index range walked past entries that are not read
      // (a B-tree that cannot position on every key scans the whole organization and reads 0 rows).
      expect(cost.buffers, `${cost.page}: buffers per row read (${cost.rowsRead} rows read)`).toBeLessThanOrEqual(5 * cost.rowsRead + 20);
    }
  });
});

describe("the check can fail", () => {
  it.each([
    ["tasks_organization_id_status_id_idx", { statuses: [33], warning: null, location: null, stuck: null }],
    ["tasks_organization_id_warning_id_idx", { statuses: null, warning: true, location: null, stuck: null }],
  ] as const)("without %s (dropped in a transaction that is rolled back) the same page reads far more", async (index, filter) => {
    const rollback = new Error("rollback");
    let cost: Cost | undefined;
    await expect(
      db.$transaction(async (tx) => {
        await tx.$executeRawUnsafe(`DROP INDEX ${index}`);
        cost = await explainAnalyze(listTaskStatusesSql(BIG_ORG, filter, lookup, middleId, LIMIT)!.sql, tx);
        throw rollback;
      }),
    ).rejects.toBe(rollback);
    expect(cost!.rowsRead).toBeGreaterThan(MAX_ROWS_READ);
  });
});

describe("short pages lose nothing", () => {
  /** Every task of the organization that matches, judged in TypeScript by the domain's own verdict. */
  async function expected(organizationId: number, filter: TaskStatusFilter): Promise<number[]> {
    const rows = await db.$queryRaw<{ id: number; status: number; workspace_id: number; location: "INBOX" | "HISTORY"; warning: boolean; seconds: number }[]>`
      SELECT id, status, workspace_id, location::text AS location, warning, extract(epoch FROM now() - status_changed_at)::float8 AS seconds
      FROM tasks WHERE organization_id = ${organizationId} ORDER BY id`;
    return rows
      .filter((r) => filter.statuses === null || filter.statuses.includes(r.status))
      .filter((r) => filter.warning === null || r.warning === filter.warning)
      .filter((r) => filter.location === null || r.location === filter.location)
      .filter((r) => filter.stuck === null || stuckVerdict(rules, { status: r.status, workspaceId: r.workspace_id, location: r.location, secondsInStatus: r.seconds }).stuck === filter.stuck)
      .map((r) => r.id);
  }

  async function walk(organizationId: number, filter: TaskStatusFilter, limit: number): Promise<{ ids: number[]; pages: number }> {
    const ids: number[] = [];
    let after: number | null = 0;
    let pages = 0;
    while (after !== null) {
      const page = await listTaskStatuses(db, organizationId, filter, lookup, after, limit);
      expect(page.tasks.length).toBeLessThanOrEqual(limit);
      ids.push(...page.tasks.map((t) => t.id));
      after = page.nextAfterId;
      pages++;
    }
    return { ids, pages };
  }

  it.each(STATUS_LIST_FILTERS)("a small organization, %s: following the cursor to the end lists exactly the matching tasks, in id order", async (_name, filter) => {
    const want = await expected(SMALL_ORG, filter);
    const got = await walk(SMALL_ORG, filter, 7);
    expect(got.ids).toEqual(want);
  });

  it.each(STATUS_LIST_FILTERS.filter(([name]) => ["status=41", "location=HISTORY", "stuck=true (none)", "warning=false"].includes(name)))(
    "the big organization, %s: the same, over short pages where matches are sparse",
    async (_name, filter) => {
      const want = await expected(BIG_ORG, filter);
      const got = await walk(BIG_ORG, filter, 500);
      expect(got.ids).toEqual(want);
      // A filter that matches nothing still walks the organization in bounded steps, not in one read.
      if (want.length === 0) expect(got.pages).toBeGreaterThan(1);
    },
  );
});
