// isPausedNow — read-only: is a pause of this status (or of every rule) in force now? Asked by a
// sweep after a short batch, to tell "drained" from "a pause came in" (every batch statement checks
// the same inside itself: stuck-workspaces.ts, pausedNow).
//
// In:    status. Locks: none. Cost: one probe of the partial index sweep_pauses_open_scope_key.
// Out:   true while such a pause is in force (database clock).
import type { Db } from "../../platform/db/client.js";
import { pausedNow } from "./stuck-workspaces.js";

export async function isPausedNow(db: Db, status: number): Promise<boolean> {
  const [row] = await db.$queryRaw<{ paused: boolean }[]>`SELECT ${pausedNow(status)} AS paused`;
  return row?.paused === true;
}
