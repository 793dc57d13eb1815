// Scale figure "status-list": GET …/statuslist on a 2M-task organization (bench/skewed-tasks.ts:
// 2.5M tasks, 4 in 5 in one organization, none of its tasks matching several filters), for every
// filter alone and combined, pages 1–3 (following the cursor) and a page from the middle. Per
// filter: the p95 of those pages through the handler's statement (Prisma, as served), beside the
// same filter's p95 in a small organization (~2,500 tasks) of the same table; and the most rows
// any of those pages read (EXPLAIN (ANALYZE, BUFFERS)), against the page size.
import pg from "pg";
import { createDb, type Db } from "../../src/platform/db/client.js";
import { listTaskStatuses, listTaskStatusesSql, stuckLookup } from "../../src/api/read-api/sql/list-task-statuses.js";
import { buildRules } from "../../src/rules/rules.js";
import { stuckThresholds } from "../../src/rules/stuck.js";
import { limitFigure, quantile, ratioFigure, timeMs, type Figure } from "../measure.js";
import { planRowsRead } from "../plan-rows.js";
import { defineScaleFigure } from "../scale-figure.js";
import { BIG_ORG, seedSkewedTasks, SMALL_ORG, STATUS_LIST_FILTERS, type ListFilter } from "../skewed-tasks.js";

const PAGE_SIZE = 50; // the API's default
const P95_LIMIT_MS = 100;
const ROWS_READ_LIMIT = 10;

const thresholds = stuckLookup(stuckThresholds(buildRules()));

/** Rows the scans of tasks produced or threw away for one page. */
async function rowsRead(db: Db, org: number, filter: ListFilter, afterId: number): Promise<number> {
  const page = listTaskStatusesSql(org, filter, thresholds, afterId, PAGE_SIZE);
  return page === null ? 0 : planRowsRead(db, page.sql, "tasks"); // null: nothing can match, no statement is sent
}

/** Where pages 1–3 and the middle page start: following the cursor, as a client does. */
async function pageStarts(db: Db, org: number, filter: ListFilter, middleId: number): Promise<number[]> {
  const starts = [0];
  while (starts.length < 3) {
    const page = await listTaskStatuses(db, org, filter, thresholds, starts.at(-1)!, PAGE_SIZE);
    if (page.nextAfterId === null) break;
    starts.push(page.nextAfterId);
  }
  return [...starts, middleId];
}

export default defineScaleFigure({
  covers: ["status-list"],
  title: "status list, every filter alone and combined, a 2M-task organization vs a small one",
  async run(ctx) {
    const total = ctx.quick ? 250_000 : 2_500_000;
    const pool = new pg.Pool({ connectionString: ctx.databaseUrl, max: 2 });
    const db = createDb(ctx.databaseUrl, { max: 2 });
    try {
      const { rows } = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM tasks");
      if (rows[0]!.n !== total) {
        ctx.log(`seeding ${total.toLocaleString()} tasks, ${(total * 0.8).toLocaleString()} in organization ${BIG_ORG}`);
        await pool.query("TRUNCATE task_events, task_assignments, tasks RESTART IDENTITY CASCADE");
        await seedSkewedTasks(pool, 1, total);
        await pool.query("VACUUM (ANALYZE) tasks");
      } else {
        ctx.log(`reusing the ${total.toLocaleString()}-task fixture`);
      }
      const middle = async (org: number) =>
        (await pool.query<{ id: number }>(`SELECT id FROM tasks WHERE organization_id = $1 ORDER BY id OFFSET (SELECT count(*) / 2 FROM tasks WHERE organization_id = $1) LIMIT 1`, [org])).rows[0]!.id;
      const middles = { [BIG_ORG]: await middle(BIG_ORG), [SMALL_ORG]: await middle(SMALL_ORG) };
      const label = ctx.quick ? "200k-task" : "2M-task";

      const figures: Figure[] = [];
      for (const [name, filter] of STATUS_LIST_FILTERS) {
        const times: Record<number, number[]> = { [BIG_ORG]: [], [SMALL_ORG]: [] };
        const starts: Record<number, number[]> = { [BIG_ORG]: await pageStarts(db, BIG_ORG, filter, middles[BIG_ORG]!), [SMALL_ORG]: await pageStarts(db, SMALL_ORG, filter, middles[SMALL_ORG]!) };
        for (let rep = 0; rep < ctx.reps * 4; rep++) {
          // Big and small alternate, so both see the same machine.
          for (const org of rep % 2 === 0 ? [BIG_ORG, SMALL_ORG] : [SMALL_ORG, BIG_ORG]) {
            for (const after of starts[org]!) times[org]!.push(await timeMs(() => listTaskStatuses(db, org, filter, thresholds, after, PAGE_SIZE)));
          }
        }
        let maxRows = 0;
        for (const after of starts[BIG_ORG]!) maxRows = Math.max(maxRows, await rowsRead(db, BIG_ORG, filter, after));
        const p95 = { big: quantile(times[BIG_ORG]!, 0.95), small: quantile(times[SMALL_ORG]!, 0.95) };
        ctx.log(`${name}: p95 ${p95.big.toFixed(1)} ms (small organization ${p95.small.toFixed(1)} ms), at most ${maxRows} rows read per page`);
        figures.push(limitFigure(`status list ${name}: p95 of pages 1–3 + middle, ${label} org vs a small org`, "ms", p95.big, p95.small, P95_LIMIT_MS));
        figures.push(ratioFigure(`status list ${name}: most rows a page read, ${label} org vs the page size`, "rows", maxRows, PAGE_SIZE, "atMost", ROWS_READ_LIMIT));
      }
      return figures;
    } finally {
      await db.$disconnect();
      await pool.end();
    }
  },
});
