// The read API's list statement, EXPLAINed on a realistic analyzed table (bench/seed.ts's shape,
// 40,000 tasks over 50 organizations): every filter reads one organization's tasks through
// tasks_organization_id_id_idx — in id order, or as a bitmap of that organization's range when
// the planner expects few matches — and never sequentially. The statement is the one the handler sends (listTaskStatusesSql), not a copy.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Prisma } from "../../src/generated/prisma/client.js";
import type { Db } from "../../src/platform/db/client.js";
import { listTaskStatusesSql, type TaskStatusFilter } from "../../src/api/read-api/sql/list-task-statuses.js";
import { buildRules } from "../../src/rules/rules.js";
import { thresholdRows } from "../../src/rules/resolve.js";
import { seedRange, truncate } from "../../bench/seed.js";
import { resetTables, testDatabaseUrl, testDb } from "../support/db.js";

const INDEX = "tasks_organization_id_id_idx";
const db = testDb();
const thresholds = thresholdRows(buildRules({ ProcessingInProgress: { workspaces: [{ workspaceIds: [71, 72], stuckAfter: "PT1H" }] } }));

interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Name"?: string;
  Plans?: PlanNode[];
}

function nodes(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(nodes)];
}

async function plan(runner: Pick<Db, "$queryRaw">, sql: Prisma.Sql): Promise<PlanNode[]> {
  const rows = await runner.$queryRaw<{ "QUERY PLAN": unknown }[]>(Prisma.sql`EXPLAIN (FORMAT JSON) ${sql}`);
  const raw = rows[0]!["QUERY PLAN"];
  return nodes(((typeof raw === "string" ? JSON.parse(raw) : raw) as [{ Plan: PlanNode }])[0].Plan);
}

/** The indexes a tasks scan reads: its own, or its bitmap index scans'. */
const indexesOf = (scan: PlanNode) => nodes(scan).map((n) => n["Index Name"]).filter((i): i is string => i !== undefined);

const none: TaskStatusFilter = { statuses: null, warning: null, location: null, stuck: null, changedSince: null, changedUntil: null };

beforeAll(async () => {
  const client = new pg.Client({ connectionString: testDatabaseUrl() });
  await client.connect();
  try {
    await truncate(client);
    await seedRange(client, 1, 40_000);
    await client.query("ANALYZE tasks");
  } finally {
    await client.end();
  }
});
afterAll(async () => {
  await resetTables(db);
  await db.$disconnect();
});

describe("the list statement on a realistic table", () => {
  it.each([
    ["no filter, first page", none, 0],
    ["no filter, a later page", none, 20_000],
    ["one status", { ...none, statuses: [41] }, 0],
    ["several statuses", { ...none, statuses: [40, 41, 70] }, 0],
    ["warning", { ...none, warning: true }, 0],
    ["location", { ...none, location: "INBOX" as const }, 0],
    ["stuck now", { ...none, stuck: true }, 0],
    ["not stuck", { ...none, stuck: false }, 0],
    ["changed since and until", { ...none, changedSince: new Date(Date.now() - 86_400_000), changedUntil: new Date() }, 0],
    ["everything at once", { ...none, statuses: [41], warning: false, location: "INBOX" as const, stuck: true }, 5000],
  ])("%s: reads the organization's tasks through its index, never sequentially", async (_case, filter, afterId) => {
    const scans = await plan(db, listTaskStatusesSql(7, filter, thresholds, afterId, 50));
    expect(scans.filter((n) => n["Node Type"].includes("Seq Scan") && n["Relation Name"] === "tasks")).toEqual([]);
    // An index scan in id order, or (when the planner expects few matches) a bitmap of the
    // organization's index range, possibly ANDed with the inbox index, then a top-N sort.
    const tasks = scans.filter((n) => n["Relation Name"] === "tasks");
    expect(tasks).toHaveLength(1);
    expect(tasks[0]!["Node Type"]).toMatch(/^(Index Scan|Bitmap Heap Scan)$/);
    expect(indexesOf(tasks[0]!)).toContain(INDEX);
  });

  it("without the index (dropped in a transaction that is rolled back) the same check fails", async () => {
    const rollback = new Error("rollback");
    let scans: PlanNode[] = [];
    await expect(
      db.$transaction(async (tx) => {
        await tx.$executeRawUnsafe(`DROP INDEX ${INDEX}`);
        scans = await plan(tx, listTaskStatusesSql(7, { ...none, statuses: [41] }, thresholds, 0, 50));
        throw rollback;
      }),
    ).rejects.toBe(rollback);
    expect(scans.filter((n) => n["Relation Name"] === "tasks").flatMap(indexesOf)).not.toContain(INDEX);
  });
});
