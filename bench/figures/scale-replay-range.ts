// Scale figure "replay-range": the selection of a webhook replay by time range (`watchdog events
// replay --organization N --since … --until …`, the console's form), as requestReplay reads it
// (replayRangeSql), in one monthly partition of 4M events (400k with --quick): a tenant with three
// quarters of them, beside 10,000 organizations with 100 each (10 with --quick). Three selections:
// the big tenant's busiest hour (4,167 events), a small tenant's whole month (its 100), and the big
// tenant's day (100,000: over the 10,000 a replay may send, so the request is refused). Per
// selection: the p95 of the statement, and the rows its scans of task_events read (EXPLAIN
// (ANALYZE)) against the fewer of the range's events (every organization's: what the BRIN index on
// created_at narrows to) and the organization's events of the range's months (what its index on
// organization_id does): the planner should take the cheaper, and neither is the whole month.
import pg from "pg";
import type * as Prisma from "../../src/platform/db/sql.js";
import { createDb, type Db } from "../../src/platform/db/client.js";
import { replayRangeSql } from "../../src/outbox/replay.js";
import { MAX_REPLAY_EVENTS } from "../../src/outbox/replay-request.js";
import { createEventPartitions } from "../../src/outbox/sql/partitions.js";
import { limitFigure, quantile, ratioFigure, timeMs, type Figure } from "../measure.js";
import { planRowsRead } from "../plan-rows.js";
import { defineScaleFigure } from "../scale-figure.js";

const P95_LIMIT_MS = 100;
const ROWS_READ_LIMIT = 2;
const BIG = 1;
const SMALL_TENANTS = 10_000;
const HOUR = 3_600_000;

const rowsRead = (db: Db, sql: Prisma.Sql) => planRowsRead(db, sql, "task_events");

export default defineScaleFigure({
  covers: ["replay-range"],
  title: "a webhook replay's selection by time range: the biggest tenant's hour and day, a small tenant's month, in a month of 4M events",
  async run(ctx) {
    const total = ctx.quick ? 400_000 : 4_000_000;
    const pool = new pg.Pool({ connectionString: ctx.databaseUrl, max: 2 });
    const db = createDb(ctx.databaseUrl, { max: 2 });
    try {
      const thisMonth = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), 1));
      const month = new Date(Date.UTC(thisMonth.getUTCFullYear(), thisMonth.getUTCMonth() - 1, 1));
      const monthMs = thisMonth.getTime() - month.getTime();
      const { rows } = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM task_events");
      if (rows[0]!.n !== total) {
        ctx.log(`seeding ${total.toLocaleString()} events over last month: 3 in 4 of organization ${BIG}, the rest over ${SMALL_TENANTS.toLocaleString()} others`);
        await pool.query("TRUNCATE task_events, task_event_requests");
        await createEventPartitions(pool, month, 0);
        // In created_at order, as they are written: the big tenant's events interleaved with everyone else's.
        for (let from = 1; from <= total; from += 500_000) {
          await pool.query(
            `INSERT INTO task_events (task_id, organization_id, workspace_id, kind, from_status, to_status, reason, actor, created_at)
             SELECT g % 500000, CASE WHEN g % 4 = 0 THEN 2 + (g / 4) % ${SMALL_TENANTS} ELSE ${BIG} END, 1000, 'AUTO_REVERTED', 41, 40,
                    'stuck in ProcessingInProgress', 'watchdog', $3::timestamptz + (g - 1) * ($4::float8 / $2::int) * interval '1 ms'
             FROM generate_series($1::int, least($1::int + 499999, $2::int)) g`,
            [from, total, month, monthMs],
          );
        }
        await pool.query("VACUUM (ANALYZE) task_events");
      } else {
        ctx.log(`reusing the ${total.toLocaleString()}-event fixture`);
      }
      const middle = month.getTime() + Math.floor(monthMs / 2 / HOUR) * HOUR;
      const selections = [
        { label: "the big tenant's hour", organizationId: BIG, since: new Date(middle), until: new Date(middle + HOUR) },
        { label: "a small tenant's month", organizationId: 2, since: month, until: thisMonth },
        { label: "the big tenant's day (over the limit: refused)", organizationId: BIG, since: new Date(middle), until: new Date(middle + 24 * HOUR) },
      ];
      const limit = MAX_REPLAY_EVENTS + 1; // what requestReplay asks for: one more than a replay may send, to tell "too many"
      const times = selections.map(() => [] as number[]);
      for (let rep = 0; rep < ctx.reps * 4; rep++) {
        for (const [i, s] of selections.entries()) times[i]!.push(await timeMs(() => db.$queryRaw(replayRangeSql(s, limit))));
      }
      const figures: Figure[] = [];
      const p95 = (values: number[]) => quantile(values, 0.95);
      const baseline = p95(times[1]!); // the small tenant's month: what a replay's selection costs a tenant of 100 events
      for (const [i, s] of selections.entries()) {
        const selected = (await db.$queryRaw<unknown[]>(replayRangeSql(s, limit))).length;
        const read = await rowsRead(db, replayRangeSql(s, limit));
        const count = async (where: string, params: unknown[]) => (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM task_events WHERE ${where}`, params)).rows[0]!.n;
        const inRange = await count("created_at >= $1 AND created_at < $2", [s.since, s.until]);
        const ofMonths = await count("organization_id = $1 AND created_at >= date_trunc('month', $2::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AND created_at < $3", [s.organizationId, s.since, thisMonth]);
        const bound = Math.min(inRange, ofMonths);
        ctx.log(`${s.label}: p95 ${p95(times[i]!).toFixed(2)} ms, ${selected} events selected, ${read} rows read (the range's events ${inRange}, the organization's of its months ${ofMonths})`);
        if (i !== 1) figures.push(limitFigure(`replay selection p95, ${s.label} vs a small tenant's month`, "ms", p95(times[i]!), baseline, P95_LIMIT_MS));
        else figures.push(limitFigure(`replay selection p95, ${s.label}`, "ms", p95(times[i]!), p95(times[i]!), P95_LIMIT_MS));
        figures.push(ratioFigure(`replay selection: rows read vs the fewer of the range's and the organization's month's events, ${s.label}`, "rows", read, Math.max(bound, 1), "atMost", ROWS_READ_LIMIT));
      }
      return figures;
    } finally {
      await db.$disconnect();
      await pool.end();
    }
  },
});
