// What a statement costs, read from its plan: EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) run for real,
// then the rows the scans of one table produced or threw away (filter and recheck), the buffers, the
// sequential scans and the indexes used. The plan tests assert bounds on these, never on time.
import pg from "pg";
import * as Prisma from "../../src/platform/db/sql.js";
import { seedSkewedTasks } from "../../bench/skewed-tasks.js";
import { truncate } from "../../bench/seed.js";
import { testDatabaseUrl } from "./db.js";
import type { Queries } from "../../src/platform/db/client.js";

/** A node of EXPLAIN (FORMAT JSON)'s plan; the buffers only with BUFFERS. */
export interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Name"?: string;
  "Actual Rows": number;
  "Actual Loops": number;
  "Rows Removed by Filter"?: number;
  "Rows Removed by Index Recheck"?: number;
  "Shared Hit Blocks"?: number;
  "Shared Read Blocks"?: number;
  Plans?: PlanNode[];
}

/** The node and every node under it. */
export const nodes = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodes)];

export interface PlanCost {
  /** Rows the scans of the table produced or threw away, over all their loops. */
  rowsRead: number;
  /** Shared buffers the whole statement hit or read. */
  buffers: number;
  /** Sequential scans of the table. */
  seqScans: number;
  /** Every index the plan used. */
  indexes: string[];
}

/** Runs `sql` under EXPLAIN ANALYZE on `runner` and measures it against `table` (a partition's name starts with it). */
export async function planCost(runner: Pick<Queries, "$queryRaw">, sql: Prisma.Sql, table: string): Promise<PlanCost> {
  const rows = await runner.$queryRaw<{ "QUERY PLAN": unknown }[]>(Prisma.sql`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${sql}`);
  const raw = rows[0]!["QUERY PLAN"];
  const plan = ((typeof raw === "string" ? JSON.parse(raw) : raw) as [{ Plan: PlanNode }])[0].Plan;
  const all = nodes(plan);
  const scans = all.filter((n) => n["Relation Name"] === table || n["Relation Name"]?.startsWith(`${table}_`));
  return {
    rowsRead: scans.reduce((sum, n) => sum + (n["Actual Rows"] + (n["Rows Removed by Filter"] ?? 0) + (n["Rows Removed by Index Recheck"] ?? 0)) * n["Actual Loops"], 0),
    buffers: (plan["Shared Hit Blocks"] ?? 0) + (plan["Shared Read Blocks"] ?? 0),
    seqScans: scans.filter((n) => n["Node Type"].includes("Seq Scan")).length,
    indexes: all.map((n) => n["Index Name"]).filter((n): n is string => n !== undefined),
  };
}

/**
 * The plan tests' table: `tasks` emptied, then `rows` skewed tasks (bench/skewed-tasks.ts: one
 * organization far bigger than the others), `then` (a test's own touches), and VACUUM ANALYZE so
 * the planner sees the skew.
 */
export async function seedSkewedTable(rows: number, then: (client: pg.Client) => Promise<unknown> = async () => undefined): Promise<void> {
  const client = new pg.Client({ connectionString: testDatabaseUrl() });
  await client.connect();
  try {
    await truncate(client);
    await seedSkewedTasks(client, 1, rows);
    await then(client);
    await client.query("VACUUM (ANALYZE) tasks");
  } finally {
    await client.end();
  }
}
