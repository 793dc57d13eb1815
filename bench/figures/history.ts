// Move to history: `stuck` tasks Processed 25 h ago and still in the inbox. Project: runSweep with
// the default rules. Bound, in plain `pg`: one hand-written statement per batch doing the same
// writes (location, moved_to_history_at, warning + reason, one MOVED_TO_HISTORY row each).
import type pg from "pg";
import type { Db } from "../../src/platform/db/client.js";
import type { Rule } from "../../src/rules/rules.js";
import { runSweep } from "../../src/sweep/run-sweep.js";
import { countEvents, stage } from "../incident.js";
import { startCpuMeter } from "../cpu.js";
import { sample, type Sample, timeMs, warm } from "../measure.js";

// In: $1 status, $2 threshold seconds, $3 batch size, $4/$5 reason head/tail.
// Locks up to $3 finished inbox rows (SKIP LOCKED); moves them to history, one audit row each.
const SET_BASED_SQL = `
  WITH candidates AS (
    SELECT t.id, t.status, t.status_changed_at FROM tasks t
    WHERE t.location = 'INBOX' AND t.status = $1::smallint AND t.status_changed_at < now() - $2::int * interval '1 second'
    ORDER BY t.status_changed_at
    LIMIT $3::int
    FOR UPDATE OF t SKIP LOCKED
  ), updated AS (
    UPDATE tasks t
    SET location = 'HISTORY', moved_to_history_at = now(), warning = true,
        warning_reason = $4::text || watchdog_humanize_seconds(floor(extract(epoch FROM now() - c.status_changed_at))::bigint) || $5::text
    FROM candidates c
    WHERE t.id = c.id AND t.status = c.status AND t.location = 'INBOX'
    RETURNING t.id, t.status, c.status_changed_at, t.warning_reason
  ), events AS (
    INSERT INTO task_events (task_id, kind, from_status, to_status, reason, actor, sweep_id, stuck_since)
    SELECT u.id, 'MOVED_TO_HISTORY', u.status, NULL, u.warning_reason, 'watchdog', 'bench-bound', u.status_changed_at FROM updated u
  )
  SELECT count(*)::int AS n FROM updated`;

export interface HistoryRates {
  /** Tasks per second, median over repetitions. */
  project: Sample;
  setBased: Sample;
  /** CPU (this process + the database backends) per task, in µs, median over repetitions. */
  cpuPerTask: { project: Sample; setBased: Sample };
}

export async function measureHistoryMove(
  db: Db,
  pool: pg.Pool,
  rules: readonly Rule[],
  ids: { from: number; to: number },
  options: { reps: number; batchSize: number },
): Promise<HistoryRates> {
  const stuck = ids.to - ids.from + 1;
  const rates = { project: [] as number[], setBased: [] as number[] };
  const cpu = { project: [] as number[], setBased: [] as number[] };
  const timed = async (side: "project" | "setBased", work: () => Promise<void>) => {
    await (side === "project" ? warm((sql) => db.$queryRawUnsafe(sql), 1) : warm((sql) => pool.query(sql), 1));
    const meter = await startCpuMeter(pool);
    const ms = await timeMs(work);
    const used = await meter.stop();
    rates[side].push(stuck / (ms / 1000));
    cpu[side].push(((used.clientMs + used.serverMs) * 1000) / stuck);
  };
  const runs: Record<keyof typeof rates, (r: number) => Promise<void>> = {
    project: async (r) => {
      await stage(pool, "processedInInbox", ids.from, ids.to);
      await timed("project", async () => {
        const result = await runSweep(db, rules, { sweepId: `bench-history-${r}`, dryRun: false, batchSize: options.batchSize });
        if (result.movedToHistory !== stuck) throw new Error(`the sweep moved ${result.movedToHistory} of ${stuck} finished tasks`);
      });
      if ((await countEvents(pool)) !== stuck) throw new Error("the sweep's audit rows do not match the tasks it moved");
    },
    setBased: async () => {
      await stage(pool, "processedInInbox", ids.from, ids.to);
      await timed("setBased", async () => {
        for (;;) {
          const { rows } = await pool.query<{ n: number }>(SET_BASED_SQL, [70, 24 * 3600, options.batchSize, "stuck in Processed for ", " (threshold 1 d); moved to history"]);
          if (rows[0]!.n < options.batchSize) break;
        }
      });
      if ((await countEvents(pool)) !== stuck) throw new Error("the set-based bound's audit rows do not match the tasks it moved");
    },
  };
  for (let r = 0; r < options.reps; r++) {
    const order = (["project", "setBased"] as const).slice();
    if (r % 2 === 1) order.reverse(); // drift in the machine's load must not favour one side
    for (const name of order) await runs[name](r);
  }
  return { project: sample(rates.project), setBased: sample(rates.setBased), cpuPerTask: { project: sample(cpu.project), setBased: sample(cpu.setBased) } };
}
