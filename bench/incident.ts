// Puts the same tasks back into an incident between repetitions by writing statuses and
// timestamps in SQL (never by waiting). The trigger that stamps status_changed_at on a status
// change is bypassed for this one session (session_replication_role = replica), so the reset
// can put a task into a status "5 hours ago" in one statement.
import type pg from "pg";
import { vacuumAnalyze } from "./seed.js";

export type Incident =
  /** Stuck in ProcessingInProgress for 5 h (threshold 4 h): the sweep reverts them to ProcessingFailed. */
  | "processingInProgress"
  /** Processed for 25 h and still in the inbox (threshold 24 h): the sweep moves them to history. */
  | "processedInInbox";

export const INCIDENT_STATUS: Record<Incident, number> = { processingInProgress: 41, processedInInbox: 70 };

/** Makes tasks fromId..toId stuck, empties the audit trail and vacuums, so each repetition starts alike. */
export async function stage(pool: pg.Pool, incident: Incident, fromId: number, toId: number): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("SET session_replication_role = replica");
    await client.query(
      `UPDATE tasks SET status = $3::smallint, previous_status = $4::smallint,
              status_changed_at = now() - $5::int * interval '1 hour', location = 'INBOX', moved_to_history_at = NULL,
              warning = false, warning_reason = NULL, auto_revert_count = 0
       WHERE id BETWEEN $1 AND $2`,
      incident === "processingInProgress" ? [fromId, toId, 41, 40, 5] : [fromId, toId, 70, 63, 25],
    );
    await client.query("TRUNCATE task_events, task_event_requests");
  } finally {
    await client.query("RESET session_replication_role").catch(() => undefined);
    client.release();
  }
  await vacuumAnalyze(pool);
}

/** How many audit rows the last repetition wrote: each figure checks its run did the whole job. */
export async function countEvents(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM task_events");
  return rows[0]!.n;
}
