// What a statement's plan read, for the scale figures that hold a page to its page size: the
// statement runs under EXPLAIN (ANALYZE, BUFFERS), and the rows the scans of one table (or of its
// partitions: a name starting with `<table>_`) produced or threw away (filter, recheck) are summed
// over their loops.
import * as Prisma from "../src/platform/db/sql.js";
import type { Db } from "../src/platform/db/client.js";

interface PlanNode {
  "Relation Name"?: string;
  "Actual Rows": number;
  "Actual Loops": number;
  "Rows Removed by Filter"?: number;
  "Rows Removed by Index Recheck"?: number;
  Plans?: PlanNode[];
}
const nodes = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodes)];

export async function planRowsRead(db: Db, sql: Prisma.Sql, table: string): Promise<number> {
  const rows = await db.$queryRaw<{ "QUERY PLAN": unknown }[]>(Prisma.sql`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${sql}`);
  const raw = rows[0]!["QUERY PLAN"];
  const plan = ((typeof raw === "string" ? JSON.parse(raw) : raw) as [{ Plan: PlanNode }])[0].Plan;
  return nodes(plan)
    .filter((n) => n["Relation Name"] === table || n["Relation Name"]?.startsWith(`${table}_`))
    .reduce((sum, n) => sum + (n["Actual Rows"] + (n["Rows Removed by Filter"] ?? 0) + (n["Rows Removed by Index Recheck"] ?? 0)) * n["Actual Loops"], 0);
}
