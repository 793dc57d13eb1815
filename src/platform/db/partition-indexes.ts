// Finishes the indexes a migration creates ON ONLY a partitioned table (task_events).
//
// PostgreSQL builds no index CONCURRENTLY on a partitioned table, and a plain CREATE INDEX on one
// blocks every insert for the whole build. So such a migration creates the parent index alone
// (`CREATE INDEX … ON ONLY`: instant, INVALID, no partition touched), and the runner finishes it
// here, partition by partition: `CREATE INDEX CONCURRENTLY` on the partition (writers go on), then
// `ALTER INDEX … ATTACH PARTITION`. PostgreSQL marks the parent valid when its last partition is
// attached, and gives every partition created afterwards its own copy (the retention's monthly ones).
//
// Runs at the end of every `watchdog migrate`, after the migrations, under the same advisory lock
// and timeouts: a database migrated by `prisma migrate deploy` (which applies the ON ONLY statement
// and stops) is finished by any later `watchdog migrate`. Resumable: the partitions done stay done;
// an INVALID partition index an interrupted or failed build left is dropped and built again.
// Partitions of a partition (sub-partitioning) are not handled: task_events has one level.
import type pg from "pg";
import { dropIfInvalid } from "./invalid-index.js";

const NAME = String.raw`(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)`;
const ON_ONLY = new RegExp(String.raw`CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?(${NAME}(?:\.${NAME})?)\s+ON\s+ONLY\s`, "gi");

/** The indexes `sql` (a migration, comments stripped) creates ON ONLY a table, named as written. */
export function indexesCreatedOnOnly(sql: string): string[] {
  return [...sql.matchAll(ON_ONLY)].map((m) => m[1]!);
}

export interface FinishOptions {
  /** Attempts of one partition's build that time out on a lock (lock_timeout), in all. */
  lockAttempts: number;
  /** Wait before the second attempt; it doubles each time. */
  retryDelayMs: number;
  /** Told of each partition built, each retry and each invalid index dropped. */
  progress: (message: string) => void;
  /** Invalid partition indexes dropped before building them again are added here. */
  dropped: string[];
}

/** A partition's index that could not be finished: what failed, with the database's error as its cause. */
export class PartitionIndexError extends Error {
  override name = "PartitionIndexError";
  constructor(
    message: string,
    readonly lockTimedOut: boolean,
    options: ErrorOptions,
  ) {
    super(message, options);
  }
}

interface Parent {
  name: string;
  schema: string;
  table: string;
  definition: string;
}

const LOCK_NOT_AVAILABLE = "55P03";
const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Builds each of `indexes` (names as the migrations wrote them) on every partition of its table
 * that lacks it, and attaches it. An index that is absent, not partitioned, or already valid is
 * left alone. Returns the partition indexes built or attached, in order.
 */
export async function finishPartitionedIndexes(client: pg.Client, indexes: readonly string[], options: FinishOptions): Promise<string[]> {
  const finished: string[] = [];
  for (const index of indexes) {
    const { rows } = await client.query<Parent>(
      `SELECT c.relname AS name, n.nspname AS schema, t.relname AS "table", pg_get_indexdef(c.oid) AS definition
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_index i ON i.indexrelid = c.oid
       JOIN pg_class t ON t.oid = i.indrelid
       WHERE c.oid = to_regclass($1) AND c.relkind = 'I' AND NOT i.indisvalid`,
      [index],
    );
    const parent = rows[0];
    if (!parent) continue;
    // The table's partitions with no index attached to this one (a partition's own index of the same columns does not count).
    const { rows: partitions } = await client.query<{ schema: string; name: string }>(
      `SELECT pn.nspname AS schema, p.relname AS name
       FROM pg_inherits h
       JOIN pg_class p ON p.oid = h.inhrelid
       JOIN pg_namespace pn ON pn.oid = p.relnamespace
       WHERE h.inhparent = (SELECT indrelid FROM pg_index WHERE indexrelid = to_regclass($1)) AND p.relkind = 'r'
         AND NOT EXISTS (SELECT 1 FROM pg_inherits hi JOIN pg_index x ON x.indexrelid = hi.inhrelid
                         WHERE hi.inhparent = to_regclass($1) AND x.indrelid = p.oid)
       ORDER BY p.relname`,
      [index],
    );
    for (const partition of partitions) finished.push(await finishOn(client, parent, partition, options));
  }
  return finished;
}

/** The partition's index: named as PostgreSQL names the copies it makes (`task_events_2026_12_task_id_id_idx`). */
function partitionIndexName(parent: Parent, partition: string): string {
  const suffix = parent.name.startsWith(`${parent.table}_`) ? parent.name.slice(parent.table.length + 1) : parent.name;
  // PostgreSQL cuts a name at 63 bytes; cut the partition's part instead, so the suffix stays whole.
  return `${partition.slice(0, Math.max(1, 62 - Buffer.byteLength(suffix)))}_${suffix}`;
}

async function finishOn(client: pg.Client, parent: Parent, partition: { schema: string; name: string }, o: FinishOptions): Promise<string> {
  const child = partitionIndexName(parent, partition.name);
  const qualifiedChild = `${ident(partition.schema)}.${ident(child)}`;
  // Everything from USING on: the method, the columns, INCLUDE and WHERE, as the parent has them.
  const definition = parent.definition.slice(parent.definition.indexOf(" USING "));
  const unique = parent.definition.startsWith("CREATE UNIQUE ");
  const where = `index ${parent.name} on partition ${partition.name}`;
  for (let attempt = 1; ; attempt += 1) {
    try {
      await dropLeftover(client, qualifiedChild, child, where, o);
      o.progress(`building ${where} (CREATE INDEX CONCURRENTLY ${child})`);
      await client.query(`CREATE ${unique ? "UNIQUE " : ""}INDEX CONCURRENTLY IF NOT EXISTS ${ident(child)} ON ${ident(partition.schema)}.${ident(partition.name)}${definition}`);
      await client.query(`ALTER INDEX ${ident(parent.schema)}.${ident(parent.name)} ATTACH PARTITION ${qualifiedChild}`);
      return child;
    } catch (error) {
      const lockTimedOut = (error as { code?: string }).code === LOCK_NOT_AVAILABLE;
      if (!lockTimedOut || attempt >= o.lockAttempts) {
        await dropLeftover(client, qualifiedChild, child, where, o).catch(() => undefined);
        throw new PartitionIndexError(`${where}: ${(error as Error).message}`, lockTimedOut, { cause: error });
      }
      const delay = o.retryDelayMs * 2 ** (attempt - 1);
      o.progress(`${where}: lock_timeout reached in attempt ${attempt} of ${o.lockAttempts}; trying again in ${delay} ms`);
      await sleep(delay);
    }
  }
}

/** Drops the partition's index when an earlier build left it INVALID, and says so. */
async function dropLeftover(client: pg.Client, qualified: string, name: string, where: string, o: FinishOptions): Promise<void> {
  const announce = () => o.progress(`${where}: ${name} was left INVALID by an earlier build that failed or was interrupted; dropping it to build it again`);
  if (await dropIfInvalid(client, qualified, announce)) o.dropped.push(name);
}
