// The one cursor loop of the outbox: how every relay target (dispatch, the events queue, each
// organization's webhook) walks its events. A batch is the events committed between two snapshots
// (snapFrom, snapTo]; it is read in pages in (txid, id) order, each page handed to the target's
// relay, whose progress moves the position; an empty page finishes the batch, and the next one
// starts where it ended. The caller holds the target's lease; every write is fenced by it.
import type { Queryable } from "./sql/queryable.js";
import type { BatchPosition } from "./sql/read-events.js";
import { finishBatch, pinBatch, type TargetCursor } from "./sql/targets.js";

export interface PinnedCursor extends TargetCursor {
  snapTo: string;
}

export interface PageRelay<Row extends { txid: string; id: string }> {
  read(position: BatchPosition, limit: number): Promise<Row[]>;
  /**
   * Relays a page and writes the position of what it relayed. Out: how many of the page's rows,
   * from the first, are done; `stop` when the target must stop now (a failed delivery, a lost lease).
   */
  relay(rows: Row[], cursor: PinnedCursor): Promise<{ done: number; stop?: boolean }>;
}

/** caught-up: nothing more to relay now; more: stopped by the page budget or the caller; stopped: by the relay; lost: the lease. */
export type LoopEnd = "caught-up" | "more" | "stopped" | "lost";

export async function relayTarget<Row extends { txid: string; id: string }>(
  db: Queryable,
  owner: string,
  start: TargetCursor,
  relay: PageRelay<Row>,
  options: { pageSize: number; maxPages: number; shouldStop: () => boolean | Promise<boolean> },
): Promise<LoopEnd> {
  let cursor: TargetCursor = start;
  let freshBatch = false;
  for (let page = 0; page < options.maxPages; page += 1) {
    if (await options.shouldStop()) return "more";
    if (cursor.snapTo === null) {
      const pinned = await pinBatch(db, cursor.target, owner);
      if (!pinned) return "lost";
      cursor = pinned;
      freshBatch = true;
    }
    const pinned = cursor as PinnedCursor;
    const rows = await relay.read(pinned, options.pageSize);
    if (rows.length === 0) {
      const finished = await finishBatch(db, cursor.target, owner, pinned.snapTo);
      if (!finished) return "lost";
      // Nothing was marked since the batch began: what the marks announced is delivered. An empty
      // new batch says the same for the targets that are not marked (dispatch, the queue).
      if (!finished.pending || freshBatch) return "caught-up";
      cursor = { ...cursor, snapFrom: pinned.snapTo, snapTo: null, afterTxid: "0", afterEventId: "0" };
      continue;
    }
    freshBatch = false;
    const outcome = await relay.relay(rows, pinned);
    if (outcome.done > 0) {
      const last = rows[outcome.done - 1]!;
      cursor = { ...cursor, afterTxid: last.txid, afterEventId: last.id };
    }
    if (outcome.stop) return "stopped";
  }
  return "more";
}
