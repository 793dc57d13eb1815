// Incident recovery: `stuck` tasks stuck in ProcessingInProgress, drained by one full sweep in
// batches. Project: runSweep with the default rules. Bounds, in plain `pg`:
//  - set-based: one hand-written statement per batch (lock candidates FOR UPDATE SKIP LOCKED,
//    revert them, write one audit row each), looped until a batch comes back short;
//  - row by row: what an ORM loop does, one transaction per task (UPDATE … RETURNING, INSERT
//    event, COMMIT), on a sample of `rowByRow` tasks.
import type pg from "pg";
import type { Db } from "../../src/platform/db/client.js";
import type { Rule } from "../../src/rules/rules.js";
import { runSweep } from "../../src/sweep/run-sweep.js";
import { countEvents, stage } from "../incident.js";
import { startCpuMeter } from "../cpu.js";
import { sample, type Sample, timeMs, warm } from "../measure.js";

const STUCK_STATUS = 41; // ProcessingInProgress
const STUCK_AFTER_SECONDS = 4 * 3600;
const TO_STATUS = 42; // ProcessingFailed
const REASON_HEAD = "stuck in ProcessingInProgress for ";
const REASON_TAIL = " (threshold 4 h); reverted to ProcessingFailed";

// In: $1 status, $2 threshold seconds, $3 batch size, $4 target status, $5/$6 reason head/tail.
// Locks up to $3 stuck rows (SKIP LOCKED); reverts them, flags them, one AUTO_REVERTED row each.
const SET_BASED_SQL = `
  WITH candidates AS (
    SELECT t.id, t.status, t.status_changed_at FROM tasks t
    WHERE t.location = 'INBOX' AND t.status = $1::smallint AND t.status_changed_at < now() - $2::int * interval '1 second'
    ORDER BY t.status_changed_at
    LIMIT $3::int
    FOR UPDATE OF t SKIP LOCKED
  ), updated AS (
    UPDATE tasks t
    SET status = $4::smallint, warning = true, auto_revert_count = t.auto_revert_count + 1,
        warning_reason = $5::text || watchdog_humanize_seconds(floor(extract(epoch FROM now() - c.status_changed_at))::bigint) || $6::text
    FROM candidates c
    WHERE t.id = c.id AND t.status = c.status
    RETURNING t.id, c.status AS from_status, c.status_changed_at, t.warning_reason
  ), events AS (
    INSERT INTO task_events (task_id, kind, from_status, to_status, reason, actor, sweep_id, stuck_since)
    SELECT u.id, 'AUTO_REVERTED', u.from_status, $4::smallint, u.warning_reason, 'watchdog', 'bench-bound', u.status_changed_at FROM updated u
  )
  SELECT count(*)::int AS n FROM updated`;

const CANDIDATES_SQL = `
  SELECT t.id, t.status, t.status_changed_at FROM tasks t
  WHERE t.location = 'INBOX' AND t.status = $1::smallint AND t.status_changed_at < now() - $2::int * interval '1 second'
  ORDER BY t.status_changed_at LIMIT $3::int`;
const ONE_UPDATE_SQL = `
  UPDATE tasks SET status = $3::smallint, warning = true, auto_revert_count = auto_revert_count + 1,
         warning_reason = $4::text || watchdog_humanize_seconds(floor(extract(epoch FROM now() - $5::timestamptz))::bigint) || $6::text
  WHERE id = $1 AND status = $2::smallint
  RETURNING warning_reason`;
const ONE_EVENT_SQL = `
  INSERT INTO task_events (task_id, kind, from_status, to_status, reason, actor, sweep_id, stuck_since)
  VALUES ($1, 'AUTO_REVERTED', $2::smallint, $3::smallint, $4, 'watchdog', 'bench-row-by-row', $5)`;

export interface RecoveryRates {
  /** Tasks per second, median over repetitions. */
  project: Sample;
  setBased: Sample;
  rowByRow: Sample;
  /** CPU (this process + the database backends) per task, in µs, median over repetitions. */
  cpuPerTask: { project: Sample; setBased: Sample };
}

export async function measureRecovery(
  db: Db,
  pool: pg.Pool,
  rules: readonly Rule[],
  ids: { from: number; to: number },
  options: { reps: number; batchSize: number; rowByRow: number },
): Promise<RecoveryRates> {
  const stuck = ids.to - ids.from + 1;
  const rates = { project: [] as number[], setBased: [] as number[], rowByRow: [] as number[] };
  const cpu = { project: [] as number[], setBased: [] as number[] };
  const timed = async (side: "project" | "setBased", work: () => Promise<void>) => {
    await (side === "project" ? warm((sql) => db.$queryRawUnsafe(sql), 1) : warm((sql) => pool.query(sql), 1));
    const meter = await startCpuMeter(pool);
    const ms = await timeMs(work);
    const used = await meter.stop();
    rates[side].push(stuck / (ms / 1000));
    cpu[side].push(((used.clientMs + used.serverMs) * 1000) / stuck);
  };
  const expectEvents = async (what: string, n: number) => {
    const events = await countEvents(pool);
    if (events !== n) throw new Error(`${what} wrote ${events} audit rows for ${n} stuck tasks`);
  };
  const runs: Record<keyof typeof rates, (r: number) => Promise<void>> = {
    project: async (r) => {
      await stage(pool, "processingInProgress", ids.from, ids.to);
      await timed("project", async () => {
        const result = await runSweep(db, rules, { sweepId: `bench-recovery-${r}`, dryRun: false, batchSize: options.batchSize });
        if (result.reverted !== stuck) throw new Error(`the sweep reverted ${result.reverted} of ${stuck} stuck tasks`);
      });
      await expectEvents("the sweep", stuck);
    },
    setBased: async () => {
      await stage(pool, "processingInProgress", ids.from, ids.to);
      await timed("setBased", async () => {
        for (;;) {
          const { rows } = await pool.query<{ n: number }>(SET_BASED_SQL, [STUCK_STATUS, STUCK_AFTER_SECONDS, options.batchSize, TO_STATUS, REASON_HEAD, REASON_TAIL]);
          if (rows[0]!.n < options.batchSize) break;
        }
      });
      await expectEvents("the set-based bound", stuck);
    },
    rowByRow: async () => {
      await stage(pool, "processingInProgress", ids.from, ids.to);
      const ms = await timeMs(() => rowByRow(pool, options.rowByRow));
      await expectEvents("the row-by-row loop", options.rowByRow);
      rates.rowByRow.push(options.rowByRow / (ms / 1000));
    },
  };
  for (let r = 0; r < options.reps; r++) {
    const order = (["project", "setBased", "rowByRow"] as const).slice();
    if (r % 2 === 1) order.reverse(); // drift in the machine's load must not favour one side
    for (const name of order) await runs[name](r);
  }
  return {
    project: sample(rates.project),
    setBased: sample(rates.setBased),
    rowByRow: sample(rates.rowByRow),
    cpuPerTask: { project: sample(cpu.project), setBased: sample(cpu.setBased) },
  };
}

async function rowByRow(pool: pg.Pool, limit: number): Promise<void> {
  const { rows } = await pool.query<{ id: number; status: number; status_changed_at: Date }>(CANDIDATES_SQL, [STUCK_STATUS, STUCK_AFTER_SECONDS, limit]);
  const client = await pool.connect();
  try {
    for (const task of rows) {
      await client.query("BEGIN");
      const updated = await client.query<{ warning_reason: string }>(ONE_UPDATE_SQL, [task.id, task.status, TO_STATUS, REASON_HEAD, task.status_changed_at, REASON_TAIL]);
      const reason = updated.rows[0]?.warning_reason;
      if (reason !== undefined) await client.query(ONE_EVENT_SQL, [task.id, task.status, TO_STATUS, reason, task.status_changed_at]);
      await client.query("COMMIT");
    }
  } finally {
    client.release();
  }
}
