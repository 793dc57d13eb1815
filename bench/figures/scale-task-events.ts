// Scale figure "task-events": one task's audit trail, a page at a time, as GET …/sdtask/events and the
// operator console read it (taskEventsPageSql), for a task with 300,000 events (30,000 with --quick)
// among 2M (200k) in two monthly partitions — a task reprocessed in a loop for weeks — beside a
// task with a dozen events in the same table. Per task: the p95 of its first, middle and last pages
// (100 events, the API's default, following the cursor) and of the console's newest 5; and the most
// rows any of the big task's pages read (EXPLAIN (ANALYZE)), against the page size.
import pg from "pg";
import type * as Prisma from "../../src/platform/db/sql.js";
import { createDb, type Db } from "../../src/platform/db/client.js";
import { listTaskEvents, taskEventsPageSql } from "../../src/api/read-api/sql/list-task-events.js";
import { createEventPartitions } from "../../src/outbox/sql/partitions.js";
import { limitFigure, quantile, ratioFigure, timeMs, type Figure } from "../measure.js";
import { planRowsRead } from "../plan-rows.js";
import { defineScaleFigure } from "../scale-figure.js";

const PAGE_SIZE = 100; // the API's default
const TRAIL = 5; // the console's
const P95_LIMIT_MS = 100;
const ROWS_READ_LIMIT = 2;
const BIG_TASK = 7;
const OTHER_TASKS = 200_000;

/** Rows the scans of task_events (any partition) produced or threw away. */
const rowsRead = (db: Db, sql: Prisma.Sql) => planRowsRead(db, sql, "task_events");

export default defineScaleFigure({
  covers: ["task-events"],
  title: "a task's events page and the console's trail: a task with 300,000 of 2M events vs one with a dozen",
  async run(ctx) {
    const scale = ctx.quick ? 0.1 : 1;
    const [total, big] = [2_000_000 * scale, 300_000 * scale];
    const pool = new pg.Pool({ connectionString: ctx.databaseUrl, max: 2 });
    const db = createDb(ctx.databaseUrl, { max: 2 });
    try {
      const { rows } = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM task_events WHERE task_id = $1", [BIG_TASK]);
      if (rows[0]!.n !== big) {
        ctx.log(`seeding ${total.toLocaleString()} events over last month and this one, ${big.toLocaleString()} of task ${BIG_TASK}`);
        await pool.query("TRUNCATE task_events, task_event_requests");
        const thisMonth = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), 1));
        const lastMonth = new Date(Date.UTC(thisMonth.getUTCFullYear(), thisMonth.getUTCMonth() - 1, 1));
        await createEventPartitions(pool, lastMonth, 0);
        // Each month: other tasks' events, then the big task's, then other tasks' again (its events in the middle of each partition).
        for (const month of [lastMonth, thisMonth]) {
          const others = (total - big) / 4;
          for (const [task, count] of [[`${BIG_TASK + 1000} + g % ${OTHER_TASKS}`, others], [String(BIG_TASK), big / 2], [`${BIG_TASK + 1000} + g % ${OTHER_TASKS}`, others]] as const) {
            await pool.query(
              `INSERT INTO task_events (task_id, organization_id, workspace_id, kind, from_status, to_status, reason, actor, created_at)
               SELECT ${task}, 1, 1000, 'AUTO_REVERTED', 41, 40, 'stuck in ProcessingInProgress', 'watchdog', $2::timestamptz + g * interval '1 ms'
               FROM generate_series(1, $1::int) g`,
              [count, month],
            );
          }
        }
        await pool.query("VACUUM (ANALYZE) task_events");
      } else {
        ctx.log(`reusing the ${total.toLocaleString()}-event fixture`);
      }
      const small = BIG_TASK + 1000 + 1;
      const cursor = async (task: number, remaining: number) =>
        BigInt((await pool.query<{ id: string }>(`SELECT id::text FROM task_events WHERE task_id = $1 ORDER BY id DESC OFFSET $2 LIMIT 1`, [task, remaining])).rows[0]?.id ?? "0");
      const starts = { big: [0n, await cursor(BIG_TASK, big / 2), await cursor(BIG_TASK, 10)], small: [0n] };
      const smallEvents = (await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM task_events WHERE task_id = $1", [small])).rows[0]!.n;

      const pages = { big: [] as number[], small: [] as number[] };
      const trails = { big: [] as number[], small: [] as number[] };
      for (let rep = 0; rep < ctx.reps * 4; rep++) {
        // Big and small alternate, so both see the same machine.
        for (const which of rep % 2 === 0 ? (["big", "small"] as const) : (["small", "big"] as const)) {
          const task = which === "big" ? BIG_TASK : small;
          for (const after of starts[which]) pages[which].push(await timeMs(() => listTaskEvents(db, task, after, PAGE_SIZE)));
          trails[which].push(await timeMs(() => db.$queryRaw(taskEventsPageSql(task, 0n, TRAIL, "newest"))));
        }
      }
      let maxRows = 0;
      for (const after of starts.big) maxRows = Math.max(maxRows, await rowsRead(db, taskEventsPageSql(BIG_TASK, after, PAGE_SIZE + 1, "oldest")));
      maxRows = Math.max(maxRows, await rowsRead(db, taskEventsPageSql(BIG_TASK, 0n, TRAIL, "newest")));
      const p95 = (values: number[]) => quantile(values, 0.95);
      const label = `${big.toLocaleString()}-event task vs a ${smallEvents}-event task`;
      ctx.log(`pages p95 ${p95(pages.big).toFixed(2)} ms (small ${p95(pages.small).toFixed(2)} ms), trail p95 ${p95(trails.big).toFixed(2)} ms, at most ${maxRows} rows read`);
      const figures: Figure[] = [
        limitFigure(`task events page (first, middle, last) p95, ${label}`, "ms", p95(pages.big), p95(pages.small), P95_LIMIT_MS),
        limitFigure(`console trail (newest ${TRAIL}) p95, ${label}`, "ms", p95(trails.big), p95(trails.small), P95_LIMIT_MS),
        ratioFigure(`task events: most rows a page or the trail read, ${big.toLocaleString()}-event task vs the page size`, "rows", maxRows, PAGE_SIZE + 1, "atMost", ROWS_READ_LIMIT),
      ];
      return figures;
    } finally {
      await db.$disconnect();
      await pool.end();
    }
  },
});
