// pauseSweeps — `watchdog pause`: opens a pause of one rule (or of every rule), replacing an open
// pause of the same scope, so extending or re-wording a pause never leaves a gap a sweep could act in.
//
// In:    status (null = every rule), reason, by, forSeconds (null = until resumed).
// Locks: a transaction-level advisory lock serialises pause/resume with each other (two operators
//        pausing the same scope at once get one after the other, not a unique violation); the
//        open row of the scope, if any, is row-locked by its UPDATE.
// Does:  ends the open pause of the scope (REPLACED by `by`, or EXPIRED if already past its end),
//        inserts the new one with expires_at = its start + forSeconds (database clock, read after the
//        lock: a wait for another operator's pause does not shorten this one), then `within` (the
//        caller's audit row). One transaction: a pause is never in force without its audit row.
// Out:   the new pause, and the one it ended (if any).
import type { Pause } from "../pause.js";
import type { Db, Queries } from "../../platform/db/client.js";
import { endPauseSet, PAUSE_COLUMNS, toPause, type PauseRow } from "./pause-row.js";

/** Shared by pause and resume: one writer of sweep_pauses at a time. */
export const PAUSE_LOCK_KEY = 7_000_001;

export interface PauseInput {
  status: number | null;
  reason: string;
  by: string;
  forSeconds: number | null;
}

type Paused = { pause: Pause; replaced: Pause | null };

export async function pauseSweeps(db: Db, input: PauseInput, within: (tx: Queries, paused: Paused) => Promise<unknown> = async () => undefined): Promise<Paused> {
  return db.$transaction(async (tx) => {
    await tx.$queryRaw`SELECT true AS locked FROM pg_advisory_xact_lock(${PAUSE_LOCK_KEY}::bigint)`;
    const ended = await tx.$queryRaw<PauseRow[]>`
      UPDATE sweep_pauses SET ${endPauseSet("REPLACED", input.by)}
      WHERE ended_at IS NULL AND status IS NOT DISTINCT FROM ${input.status}::smallint
      RETURNING ${PAUSE_COLUMNS}`;
    const added = await tx.$queryRaw<PauseRow[]>`
      INSERT INTO sweep_pauses (status, reason, paused_by, paused_at, expires_at)
      VALUES (${input.status}::smallint, ${input.reason}, ${input.by}, statement_timestamp(),
              statement_timestamp() + ${input.forSeconds}::int * interval '1 second')
      RETURNING ${PAUSE_COLUMNS}`;
    const paused = { pause: toPause(added[0]!), replaced: ended[0] ? toPause(ended[0]) : null };
    await within(tx, paused);
    return paused;
  });
}
