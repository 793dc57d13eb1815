// Group commit of webhook positions. Each delivered event moves its organization's position at
// once in memory; one statement (writePositions) writes every organization's latest position, and
// the next one starts as soon as it returns. So the position trails the deliveries by one or two
// round trips, a kill re-sends only what was in flight or answered meanwhile (send-window.ts), and
// the database sees one small UPDATE per round trip for all organizations, not one per event.
// The same statement renews the leases of the organizations it writes.
import type { Queryable } from "./sql/queryable.js";
import { writePositions, type PositionWrite } from "./sql/targets.js";

export class PositionWriter {
  private readonly notes = new Map<string, PositionWrite>();
  private flushing: Promise<void> | undefined;
  private lastOk = true;
  /** Targets whose last write found the lease gone. */
  readonly lost = new Set<string>();

  constructor(
    private readonly db: Queryable,
    private readonly owner: string,
    private readonly leaseMs: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Records that `target`'s batch ending at `snapTo` is delivered up to `last` (`count` events more). */
  note(target: string, snapTo: string, last: { txid: string; id: string }, count: number): void {
    // The count is the target's running total (delivered_count): what an unwritten note counted stays in it.
    this.notes.set(target, { target, snapTo, last, count: (this.notes.get(target)?.count ?? 0) + count });
    void this.flush();
  }

  /** Resolves true once every position noted before the call is written; false when that write failed (the next flush retries it). */
  async flush(): Promise<boolean> {
    while (this.flushing) await this.flushing;
    if (this.notes.size === 0) return this.lastOk;
    const writes = [...this.notes.values()];
    this.notes.clear();
    this.flushing = (async () => {
      try {
        const written = await writePositions(this.db, this.owner, this.leaseMs, writes);
        for (const w of writes) if (!written.has(w.target)) this.lost.add(w.target);
        this.lastOk = true;
      } catch (error) {
        // Put them back for the next flush: a newer position noted meanwhile wins, with both counts.
        for (const w of writes) {
          const newer = this.notes.get(w.target);
          this.notes.set(w.target, newer ? { ...newer, count: newer.count + w.count } : w);
        }
        this.onError(error);
        this.lastOk = false;
      } finally {
        this.flushing = undefined;
      }
    })();
    await this.flushing;
    return this.lastOk;
  }

  /** Forgets a target (its batch finished or it was released); its noted position is written first. */
  async settle(target: string): Promise<void> {
    if (this.notes.has(target)) await this.flush();
    this.lost.delete(target);
  }
}
