// resumeSweeps — `watchdog resume`: ends the open pause of one rule, or every open pause.
//
// In:    status (a rule's code) or null (every open pause: of all rules and of each rule), by.
// Locks: the advisory lock of pauseSweeps (one writer at a time); the open rows, by the UPDATE.
// Does:  sets ended_at/ended_how/ended_by: RESUMED by `by`, or EXPIRED at expires_at for a pause
//        already past its end that no sweep had noticed yet; then `within` (the caller's audit row).
//        One transaction.
// Out:   the pauses it ended, each with how. None resumed = nothing was paused (the CLI says so).
import type { Pause } from "../pause.js";
import type { Db, Queries } from "../../platform/db/client.js";
import { PAUSE_LOCK_KEY } from "./pause-sweeps.js";
import { endPauseSet, PAUSE_COLUMNS, toPause, type PauseRow } from "./pause-row.js";

export async function resumeSweeps(db: Db, input: { status: number | null; by: string }, within: (tx: Queries, ended: Pause[]) => Promise<unknown> = async () => undefined): Promise<Pause[]> {
  const scope = input.status === null ? "every" : "one";
  return db.$transaction(async (tx) => {
    await tx.$queryRaw`SELECT true AS locked FROM pg_advisory_xact_lock(${PAUSE_LOCK_KEY}::bigint)`;
    const ended = (
      await tx.$queryRaw<PauseRow[]>`
        UPDATE sweep_pauses SET ${endPauseSet("RESUMED", input.by)}
        WHERE ended_at IS NULL AND (${scope}::text = 'every' OR status = ${input.status}::smallint)
        RETURNING ${PAUSE_COLUMNS}`
    ).map(toPause);
    await within(tx, ended);
    return ended;
  });
}
