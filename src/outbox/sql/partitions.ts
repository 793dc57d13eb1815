// The monthly partitions of task_events (prisma/migrations/20261204130000_events_partitioned):
// created ahead, and dropped whole once delivered and older than the retention. Partitions are
// named task_events_YYYY_MM and cover that UTC month; the default partition catches the rest.
import type { Queryable } from "./queryable.js";

const NAME = /^task_events_(\d{4})_(\d{2})$/;

/**
 * How long creating or dropping a partition waits for its lock on task_events. Both need the parent
 * exclusively, and while one waits in the lock queue every insert of an event (a sweep batch, a
 * reprocess) waits behind it: behind a long reader (a report, pg_dump) the connection's own
 * lock_timeout (15 s) stalled every writer that long. Past this the step fails and the next hourly
 * run tries again; SET LOCAL in the statement's own implicit transaction, so it holds on a pool and
 * behind PgBouncer alike.
 */
export const PARTITION_LOCK_TIMEOUT_MS = 1000;
const boundedLock = `SET LOCAL lock_timeout = ${PARTITION_LOCK_TIMEOUT_MS}; `;

export const partitionName = (month: Date) => `task_events_${month.getUTCFullYear()}_${String(month.getUTCMonth() + 1).padStart(2, "0")}`;
const addMonths = (month: Date, n: number) => new Date(Date.UTC(month.getUTCFullYear(), month.getUTCMonth() + n, 1));

/**
 * createEventPartitions — In: how many months ahead of the current one. Does: creates the missing
 * monthly partitions (a brief lock on task_events each, only when one is missing; the default
 * partition is checked for rows of that month). A month whose rows the default partition holds (a
 * hand-written timestamp) is left to it: PostgreSQL refuses to create a partition that would take
 * them, which failed the whole run — no later month created, no old month dropped, run after run.
 * Locks: as said. Out: the names created.
 */
export async function createEventPartitions(db: Queryable, now: Date, monthsAhead: number): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(`SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'task_events'::regclass`);
  const existing = new Set(rows.map((r) => r.name));
  const created: string[] = [];
  const first = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  for (let n = 0; n <= monthsAhead; n += 1) {
    const month = addMonths(first, n);
    const name = partitionName(month);
    if (existing.has(name)) continue;
    const { rows: stray } = await db.query(`SELECT 1 FROM task_events_default WHERE created_at >= $1 AND created_at < $2 LIMIT 1`, [month, addMonths(month, 1)]);
    if (stray.length > 0) continue; // kept there, and warned of, until moved by hand (runRetention)
    await db.query(`${boundedLock}CREATE TABLE IF NOT EXISTS "${name}" PARTITION OF task_events FOR VALUES FROM ('${month.toISOString()}') TO ('${addMonths(month, 1).toISOString()}')`);
    created.push(name);
  }
  return created;
}

export interface PrunablePartition {
  name: string;
  /** The first instant after the partition's month. */
  end: Date;
}

/**
 * findPrunablePartitions — In: the retention cutoff (events created before it may go), the relay
 * targets that owe deliveries (dispatch and the queue, when on). Does: nothing.
 * Out: the monthly partitions wholly before the cutoff whose every event every one of those targets
 * — and every webhook organization still pending — has passed: no event of the partition is still
 * invisible in the target's position (snap_from). An undelivered event keeps its partition.
 * Cost per old partition: two index descents (its lowest and highest txid) and one per
 * transaction a position lists as in progress within that range (normally none), whatever the
 * partition's size. Locks: none.
 */
export async function findPrunablePartitions(db: Queryable, cutoff: Date, owingTargets: readonly string[]): Promise<PrunablePartition[]> {
  const { rows } = await db.query<{ name: string }>(`SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'task_events'::regclass`);
  const old = rows
    .map((r) => ({ name: r.name, m: NAME.exec(r.name) }))
    .filter((r): r is { name: string; m: RegExpExecArray } => r.m !== null)
    .map((r) => ({ name: r.name, end: new Date(Date.UTC(Number(r.m[1]), Number(r.m[2]), 1)) }))
    .filter((p) => p.end.getTime() <= cutoff.getTime())
    .sort((a, b) => a.end.getTime() - b.end.getTime());
  if (old.length === 0) return [];
  // The positions that owe deliveries, as (xmax, in-progress txids): pg_snapshot's text is "xmin:xmax:xip,…".
  const { rows: positions } = await db.query<{ snap: string }>(`SELECT snap_from AS snap FROM outbox_cursors WHERE target = ANY($1::text[]) OR pending`, [owingTargets]);
  const parsed = positions.map((r) => {
    const [, xmax, xip] = r.snap.split(":");
    return { xmax: BigInt(xmax!), xip: (xip ?? "").split(",").filter(Boolean).map(BigInt) };
  });
  const prunable: PrunablePartition[] = [];
  for (const p of old) {
    // min() and max() are one index descent each; the probes below force an ordered index scan
    // (ORDER BY … LIMIT 1), so no plan ever reads the partition whatever its statistics say.
    const { rows: range } = await db.query<{ low: string | null; high: string | null }>(`SELECT min(txid)::text AS low, max(txid)::text AS high FROM "${p.name}"`);
    const low = range[0]?.low;
    const high = range[0]?.high;
    let owed = false;
    if (low != null && high != null) {
      const [min, max] = [BigInt(low), BigInt(high)];
      // An event is not yet passed by a position iff its transaction began after the position's
      // snapshot (txid >= xmax) or was in progress then (listed in it).
      owed = parsed.some((position) => max >= position.xmax);
      const candidates = [...new Set(parsed.flatMap((position) => position.xip.filter((x) => x >= min && x <= max)))];
      for (const txid of candidates) {
        if (owed) break;
        const { rows: hit } = await db.query<{ txid: string }>(`SELECT txid::text FROM "${p.name}" WHERE txid >= $1::bigint ORDER BY txid LIMIT 1`, [txid.toString()]);
        owed = hit[0]?.txid === txid.toString();
      }
    }
    if (owed) break; // this month, and the later ones, keep events a target has not passed
    prunable.push(p);
  }
  return prunable;
}

/** dropPartition — drops one monthly partition: O(1) whatever its size. Locks: task_events briefly (PARTITION_LOCK_TIMEOUT_MS bounds the wait). */
export async function dropPartition(db: Queryable, name: string): Promise<void> {
  if (!NAME.test(name)) throw new Error(`not a monthly partition of task_events: ${name}`);
  await db.query(`${boundedLock}DROP TABLE "${name}"`);
}

/**
 * pruneRequestIds — In: the cutoff, a batch size. Does: deletes up to `limit` reprocess request ids
 * older than the cutoff (their events are gone or going). Locks: those rows. Out: how many.
 */
export async function pruneRequestIds(db: Queryable, cutoff: Date, limit: number): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM task_event_requests WHERE request_id IN (SELECT request_id FROM task_event_requests WHERE created_at < $1 ORDER BY created_at LIMIT $2::int)`,
    [cutoff, limit],
  );
  return rowCount ?? 0;
}

/** defaultPartitionRows — In: a cap. Out: how many rows (up to the cap) sit in the default partition. Locks: none. */
export async function defaultPartitionRows(db: Queryable, cap: number): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM (SELECT 1 FROM task_events_default LIMIT $1::int) x`, [cap]);
  return rows[0]?.n ?? 0;
}

/**
 * unfinishedEventIndexes — Out: the indexes of task_events not yet built on every partition (created
 * ON ONLY by a migration, finished by `watchdog migrate`; `prisma migrate deploy` stops before). Locks: none.
 */
export async function unfinishedEventIndexes(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
     WHERE i.indrelid = 'task_events'::regclass AND NOT i.indisvalid ORDER BY 1`,
  );
  return rows.map((r) => r.name);
}
