// The sweep's plans, not its clock: on a realistic table (bench/seed.ts's shape, 40,000 tasks, three
// quarters of them in history, ANALYZEd), every statement a sweep sends reads tasks through the two
// inbox indexes only: the quiet check's first step through tasks_inbox_status_changed_at_idx, the
// per-workspace judgement and the batches' candidates through
// tasks_inbox_status_workspace_changed_at_idx; never sequentially. A change to the
// SQL, the index or the rules that loses the index fails here, long before a benchmark would
// notice. Statements are taken exactly as the project builds them (a Db stand-in records the
// Prisma.Sql it is handed) and EXPLAINed, never re-typed; EXPLAIN without ANALYZE runs nothing.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as Prisma from "../../src/platform/db/sql.js";
import type { Db } from "../../src/platform/db/client.js";
import { countStuckByProbe } from "../../src/sweep/sql/count-stuck-by-probe.js";
import { statusesWithStuckTasksSql } from "../../src/sweep/sql/find-statuses-with-stuck-tasks.js";
import { flagStuckTasks } from "../../src/sweep/sql/flag-stuck-tasks.js";
import { moveFinishedTasksToHistory } from "../../src/sweep/sql/move-finished-tasks-to-history.js";
import { revertStuckTasks } from "../../src/sweep/sql/revert-stuck-tasks.js";
import { buildRules } from "../../src/rules/rules.js";
import { everyWorkspaceThresholds, listedThresholds, statusPlansFor, type StatusPlan } from "../../src/sweep/sweep-plan.js";
import { seedRange, truncate } from "../../bench/seed.js";
import { resetTables, testDatabaseUrl, testDb } from "../support/db.js";

const INBOX_INDEX = "tasks_inbox_status_changed_at_idx";
const WORKSPACE_INDEX = "tasks_inbox_status_workspace_changed_at_idx";
const ROWS = 40_000;
const db = testDb();

interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Name"?: string;
  "Subplan Name"?: string;
  Plans?: PlanNode[];
}

interface TaskScan {
  nodeType: string;
  /** The index it reads (for a bitmap heap scan, its bitmap index scans'). */
  indexes: string[];
  /** The CTE or InitPlan it belongs to, e.g. "CTE candidates". */
  within: string | undefined;
}

/** Every node that reads the tasks table. */
function taskScans(node: PlanNode, within?: string): TaskScan[] {
  const here = node["Subplan Name"] ?? within;
  const scans: TaskScan[] = [];
  if (node["Relation Name"] === "tasks") {
    const indexes = [node["Index Name"], ...(node.Plans ?? []).map((child) => child["Index Name"])].filter((i): i is string => i !== undefined);
    scans.push({ nodeType: node["Node Type"], indexes, within: here });
  }
  for (const child of node.Plans ?? []) if (node["Relation Name"] !== "tasks" || child["Node Type"] !== "Bitmap Index Scan") scans.push(...taskScans(child, here));
  return scans;
}

async function explain(runner: Pick<Db, "$queryRaw">, sql: Prisma.Sql): Promise<PlanNode> {
  const rows = await runner.$queryRaw<{ "QUERY PLAN": unknown }[]>(Prisma.sql`EXPLAIN (FORMAT JSON) ${sql}`);
  const raw = rows[0]!["QUERY PLAN"];
  const doc = (typeof raw === "string" ? JSON.parse(raw) : raw) as [{ Plan: PlanNode }];
  return doc[0].Plan;
}

/** The statement `send` hands to the database, recorded instead of run. */
async function statementOf(send: (db: Db) => Promise<unknown>): Promise<Prisma.Sql> {
  let recorded: Prisma.Sql | undefined;
  const recorder = {
    $queryRaw: async (first: TemplateStringsArray | Prisma.Sql, ...values: unknown[]) => {
      recorded = first instanceof Prisma.Sql ? first : Prisma.sql(first, ...values);
      return [];
    },
  };
  await send(recorder as unknown as Db).catch(() => undefined); // a stand-in's empty answer may not satisfy the caller
  if (!recorded) throw new Error("nothing was sent to the database");
  return recorded;
}

const batchStatement = (plan: StatusPlan, thresholds = plan.thresholds) =>
  statementOf((stand) => {
    // As a sweep sends it: stuck as of its count's time, a parameter (not the statement's now()).
    const input = { plan, thresholds, limit: 1000, asOf: new Date(), sweepId: "plan-test" };
    if (plan.action.kind === "revert") return revertStuckTasks(stand, { ...input, escalateAfter: 3 });
    return plan.action.kind === "moveToHistory" ? moveFinishedTasksToHistory(stand, input) : flagStuckTasks(stand, input);
  });

const defaultPlans = statusPlansFor(buildRules());
const overrides = Array.from({ length: 50 }, (_, i) => ({ workspaceIds: [1000 + i], ...(i % 2 === 0 ? { stuckAfter: "PT1H" } : { enabled: false }) }));
const narrowedPlans = statusPlansFor(buildRules({ ProcessingInProgress: { workspaces: [{ workspaceIds: [11, 12], stuckAfter: "PT1H" }, ...overrides] }, Processed: { action: "flag" } }));

beforeAll(async () => {
  const client = new pg.Client({ connectionString: testDatabaseUrl() });
  await client.connect();
  try {
    await truncate(client);
    await seedRange(client, 1, ROWS);
    await client.query("ANALYZE tasks");
  } finally {
    await client.end();
  }
});

afterAll(async () => {
  await resetTables(db);
  await db.$disconnect();
});

describe("given a realistic, analyzed tasks table", () => {
  it("the table is big enough for the planner to care: thousands of pages, most rows in history", async () => {
    const [shape] = await db.$queryRaw<{ pages: number; inbox: number }[]>`
      SELECT (SELECT relpages FROM pg_class WHERE relname = 'tasks')::int AS pages, count(*) FILTER (WHERE location = 'INBOX')::int AS inbox FROM tasks`;
    expect(shape!.pages).toBeGreaterThan(1000);
    expect(shape!.inbox).toBeLessThan(ROWS / 3);
  });

  it("when a sweep starts with the default rules, its one read-only check is one descent of the inbox index per status", async () => {
    // One index scan node, run once per status by the LATERAL (planned once, not once per status).
    const scans = taskScans(await explain(db, statusesWithStuckTasksSql(defaultPlans)));
    expect(scans).toHaveLength(1);
    for (const scan of scans) {
      expect(scan.nodeType).toMatch(/^(Index Scan|Index Only Scan)$/);
      expect(scan.indexes).toEqual([INBOX_INDEX]);
    }
  });

  it("with workspace overrides, the check judges workspaces through the per-workspace index (a loose scan), never a probe per override", async () => {
    const scans = taskScans(await explain(db, statusesWithStuckTasksSql(narrowedPlans)));
    expect(scans.filter((s) => !/^(Index Scan|Index Only Scan)$/.test(s.nodeType))).toEqual([]);
    // Per status without overrides: one descent; the status with 52 overrides: the same few nodes.
    expect(scans.length).toBeLessThanOrEqual(narrowedPlans.length + 2);
    const recursion = scans.filter((s) => s.indexes.includes(WORKSPACE_INDEX));
    expect(recursion.length).toBe(2); // the loose scan's first step and its recursive step
  });

  it.each([...defaultPlans, ...narrowedPlans.filter((p) => p.thresholds.workspaceIds.length > 0 || p.action.kind === "flag")].map((plan) => ({ status: plan.statusName, kind: plan.action.kind, overrides: plan.thresholds.workspaceIds.length, plan })))(
    "when $status ($kind, $overrides overrides) has stuck tasks, the batch statement takes them through the per-workspace index",
    async ({ plan }) => {
      const scans = taskScans(await explain(db, await batchStatement(plan)));
      expect(scans.filter((s) => s.nodeType !== "ModifyTable" && !/^(Index Scan|Index Only Scan)$/.test(s.nodeType))).toEqual([]);
      const candidates = scans.filter((s) => s.within === "CTE candidates");
      expect(candidates).toHaveLength(1);
      expect(candidates[0]!.indexes).toEqual([WORKSPACE_INDEX]);
    },
  );

  it("as a sweep sends it (the stuck workspaces its count found), the batch statement ranges over the per-workspace index only", async () => {
    const plan = defaultPlans.find((p) => p.statusName === "ProcessingInProgress")!;
    const listed = listedThresholds([11, 12, 13].map((workspaceId) => ({ workspaceId, seconds: 14_400, probe: 0 })));
    const scans = taskScans(await explain(db, await batchStatement(plan, listed)));
    expect(scans.filter((s) => s.within === "CTE candidates").map((s) => s.indexes)).toEqual([[WORKSPACE_INDEX]]);
    // Nothing else reads tasks but the update's lookup of the locked rows by id: no loose scan, no range of the other index.
    expect(scans.filter((s) => s.within !== "CTE candidates" && s.nodeType !== "ModifyTable").flatMap((s) => s.indexes)).toEqual(["tasks_pkey"]);
  });

  it.each(defaultPlans.map((plan) => ({ status: plan.statusName, kind: plan.action.kind, plan })))(
    "as a sweep sends it for $status ($kind) without overrides, the batch statement is one range of the status index, not one per workspace",
    async ({ plan }) => {
      const thresholds = everyWorkspaceThresholds(plan.thresholds)!;
      const scans = taskScans(await explain(db, await batchStatement(plan, thresholds)));
      // An index scan when many rows are stuck; a bitmap scan of the same range when the planner
      // knows few are (the threshold is a value it sees): either way one range of the status index.
      expect(scans.filter((s) => s.within === "CTE candidates").map((s) => s.indexes)).toEqual([[INBOX_INDEX]]);
      // (The update then finds the locked rows by id as in every batch statement; on this 40k-row
      // table the planner may read the table in one pass instead; on the bench's 1M rows it looks them up by id.)
    },
  );

  it("the hold's, the dry run's and `watchdog stuck`'s count reads the inbox indexes only", async () => {
    const plan = narrowedPlans.find((p) => p.statusName === "ProcessingInProgress")!;
    const scans = taskScans(await explain(db, await statementOf((stand) => countStuckByProbe(stand, plan))));
    expect(scans.length).toBeGreaterThan(0);
    for (const scan of scans) expect([[INBOX_INDEX], [WORKSPACE_INDEX]]).toContainEqual(scan.indexes);
  });

  it("without the indexes (dropped in a transaction that is rolled back) the same check sees a sequential scan: it can fail", async () => {
    const rollback = new Error("rollback");
    let scans: TaskScan[] = [];
    await expect(
      db.$transaction(async (tx) => {
        await tx.$executeRawUnsafe(`DROP INDEX ${INBOX_INDEX}, ${WORKSPACE_INDEX}`);
        scans = taskScans(await explain(tx, statusesWithStuckTasksSql(defaultPlans)));
        throw rollback;
      }),
    ).rejects.toBe(rollback);
    expect(scans.some((s) => s.nodeType === "Seq Scan")).toBe(true);
    const [still] = await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_indexes WHERE indexname = ${INBOX_INDEX}`;
    expect(still!.n).toBe(1);
  });
});
