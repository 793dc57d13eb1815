// Scale figure "pruning": one run of the events retention (runRetention: partitions ahead, the
// delivery check, the drop of the one month past EVENTS_RETENTION, the request ids) pruning a
// month of 100,000 events (10,000 with --quick) from a table of 3M events (300k), vs the same month
// from a table of 300k (30k). A month is one partition, dropped whole: the time should not grow
// with the table. (Dropping a partition costs what unlinking its files costs: it grows with the
// month's own size, not with the rest of the table.)
import pg from "pg";
import { pino } from "pino";
import { runRetention } from "../../src/outbox/retention.js";
import { createEventPartitions } from "../../src/outbox/sql/partitions.js";
import { median, ratioFigure, timeMs, type Figure } from "../measure.js";
import { defineScaleFigure } from "../scale-figure.js";

const DAY = 86_400_000;
const RETENTION_MS = 90 * DAY;

const monthStart = (base: Date, n: number) => new Date(Date.UTC(base.getUTCFullYear(), base.getUTCMonth() + n, 1));

export default defineScaleFigure({
  covers: ["pruning"],
  title: "pruning one month of events: from a table of 3M events vs 300k (--quick: 300k vs 30k)",
  async run(ctx) {
    const month = ctx.quick ? 10_000 : 100_000;
    const tables = { small: 3 * month, large: 30 * month };
    const pool = new pg.Pool({ connectionString: ctx.databaseUrl, max: 2 });
    const logger = pino({ level: "silent" });
    const today = new Date();
    const base = monthStart(new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), 1)), -8);
    // Only the oldest month ended before the cutoff (now - 90 days).
    const now = new Date(monthStart(base, 1).getTime() + RETENTION_MS + 5 * DAY);
    const options = { pool, owner: "bench-pruning", logger, retentionMs: RETENTION_MS, leaseMs: 60_000, relaysQueue: false, relaysWebhooks: true };

    const seedMonth = async (month: Date, n: number) => {
      await createEventPartitions(pool, month, 0);
      await pool.query(
        `INSERT INTO task_events (task_id, organization_id, workspace_id, kind, from_status, to_status, reason, actor, sweep_id, created_at)
         SELECT g, 1 + g % 10010, 1 + g % 100, 'AUTO_REVERTED', 41, 42, 'an old event', 'watchdog', 'seed', $2::timestamptz + (g % 27) * interval '1 day'
         FROM generate_series(1, $1::int) g`,
        [n, month],
      );
    };
    /** Every event so far is delivered: dispatch's position is now. */
    const delivered = () =>
      pool.query(
        `INSERT INTO outbox_cursors (target, snap_from) VALUES ('dispatch', pg_current_snapshot()::text)
         ON CONFLICT (target) DO UPDATE SET snap_from = excluded.snap_from, snap_to = NULL, pending = false`,
      );

    const measure = async (tableSize: number) => {
      await pool.query(`TRUNCATE task_events, task_event_requests, outbox_cursors`);
      // The month pruned, then two later months holding the rest of the table.
      await seedMonth(monthStart(base, 0), month);
      for (let m = 1; m < 3; m++) await seedMonth(monthStart(base, m), (tableSize - month) / 2);
      await pool.query(`CHECKPOINT`); // as months-old partitions are: written out long ago
      await pool.query(`VACUUM (ANALYZE) task_events`);
      const times: number[] = [];
      for (let rep = 0; rep <= ctx.reps; rep++) {
        await delivered();
        let dropped: string[] = [];
        const ms = await timeMs(async () => {
          dropped = (await runRetention(options, now))?.dropped ?? [];
        });
        if (dropped.length !== 1) throw new Error(`the retention dropped ${dropped.length} months, not the oldest one`);
        if (rep > 0) times.push(ms); // the first run also creates the partitions ahead
        await seedMonth(monthStart(base, 0), month); // the month again, for the next repetition
        await pool.query(`CHECKPOINT`);
      }
      const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM task_events`);
      ctx.log(`${rows[0]!.n.toLocaleString()} events in the table: pruning one month (${month.toLocaleString()} events) took ${median(times).toFixed(1)} ms`);
      return median(times);
    };

    try {
      const smallMs = await measure(tables.small);
      const largeMs = await measure(tables.large);
      const label = (n: number) => `${(n / 1_000_000).toLocaleString()}M`;
      const figures: Figure[] = [
        ratioFigure(`pruning one month of ${label(month)} events (delivery check, partition drop): from a ${label(tables.large)}-event table vs from ${label(tables.small)}`, "ms", largeMs, smallMs, "atMost", 1.5),
      ];
      return figures;
    } finally {
      await pool.end();
    }
  },
});
