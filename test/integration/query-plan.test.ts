// The sweep's plans, not its clock: on a realistic table (bench/seed.ts's shape, 40,000 tasks, three
// quarters of them in history, ANALYZEd), every statement a sweep sends finds its candidates
// through tasks_inbox_status_changed_at_idx and never reads tasks sequentially. A change to the
// SQL, the index or the rules that loses the index fails here, long before a benchmark would
// notice. Statements are taken exactly as the project builds them (a Db stand-in records the
// Prisma.Sql it is handed) and EXPLAINed, never re-typed; EXPLAIN without ANALYZE runs nothing.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Prisma } from "../../src/generated/prisma/client.js";
import type { Db } from "../../src/db/client.js";
import { countStuckTasks } from "../../src/db/sql/count-stuck-tasks.js";
import { probesWithStuckTasksSql } from "../../src/db/sql/find-probes-with-stuck-tasks.js";
import { moveFinishedTasksToHistory } from "../../src/db/sql/move-finished-tasks-to-history.js";
import { revertStuckTasks } from "../../src/db/sql/revert-stuck-tasks.js";
import { buildRules, probesFor, type Probe } from "../../src/domain/rules.js";
import { seedRange, truncate } from "../../bench/seed.js";
import { resetTables, testDatabaseUrl, testDb } from "../support/db.js";

const INBOX_INDEX = "tasks_inbox_status_changed_at_idx";
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

const batchStatement = (probe: Probe) =>
  statementOf((stand) => (probe.action.kind === "revert" ? revertStuckTasks(stand, probe, 1000, "plan-test") : moveFinishedTasksToHistory(stand, probe, 1000, "plan-test")));

const defaultProbes = probesFor(buildRules());
const narrowedProbes = probesFor(buildRules({ ProcessingInProgress: { workspaces: [{ workspaceIds: [11, 12], stuckAfter: "PT1H" }] } }));

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

  it.each([
    { rules: "default rules", probes: defaultProbes },
    { rules: "a rule narrowed to some workspaces", probes: narrowedProbes },
  ])("when a sweep starts ($rules), its one read-only check probes every rule through the inbox index", async ({ probes }) => {
    const scans = taskScans(await explain(db, probesWithStuckTasksSql(probes)));
    expect(scans).toHaveLength(probes.length);
    for (const scan of scans) {
      // An index, index-only or bitmap scan: each reads the index range of the stuck rows only.
      expect(scan.nodeType).toMatch(/^(Index Scan|Index Only Scan|Bitmap Heap Scan)$/);
      expect(scan.indexes).toEqual([INBOX_INDEX]);
    }
  });

  it.each(defaultProbes.map((probe) => ({ status: probe.statusName, probe })))("when $status has stuck tasks, the batch statement finds them through the inbox index", async ({ probe }) => {
    const scans = taskScans(await explain(db, await batchStatement(probe)));
    expect(scans.filter((s) => s.nodeType.includes("Seq Scan"))).toEqual([]);
    const candidates = scans.filter((s) => s.within === "CTE candidates");
    expect(candidates).toHaveLength(1);
    expect(candidates[0]!.indexes).toEqual([INBOX_INDEX]);
  });

  it("the dry run's and `watchdog stuck`'s count reads the inbox index only", async () => {
    const probe = defaultProbes.find((p) => p.statusName === "ProcessingInProgress")!;
    const scans = taskScans(await explain(db, await statementOf((stand) => countStuckTasks(stand, probe))));
    expect(scans.length).toBeGreaterThan(0);
    for (const scan of scans) expect(scan.indexes).toEqual([INBOX_INDEX]);
  });

  it("without the index (dropped in a transaction that is rolled back) the same check sees a sequential scan: it can fail", async () => {
    const rollback = new Error("rollback");
    let scans: TaskScan[] = [];
    await expect(
      db.$transaction(async (tx) => {
        await tx.$executeRawUnsafe(`DROP INDEX ${INBOX_INDEX}`);
        scans = taskScans(await explain(tx, probesWithStuckTasksSql(defaultProbes)));
        throw rollback;
      }),
    ).rejects.toBe(rollback);
    expect(scans.some((s) => s.nodeType === "Seq Scan")).toBe(true);
    const [still] = await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_indexes WHERE indexname = ${INBOX_INDEX}`;
    expect(still!.n).toBe(1);
  });
});
