// An INVALID index: what a CREATE INDEX CONCURRENTLY that failed or was cut off leaves behind —
// maintained on every write, used by no query. The migration runner drops it before building
// again, for a migration's index and for a partition's (partition-indexes.ts) alike.
import type pg from "pg";

/** Whether `index` (a name as SQL would write it, quoted or not) exists and is INVALID. */
export async function isInvalidIndex(client: pg.Client, index: string): Promise<boolean> {
  const { rows } = await client.query<{ invalid: boolean }>(`SELECT NOT i.indisvalid AS invalid FROM pg_index i WHERE i.indexrelid = to_regclass($1)`, [index]);
  return rows[0]?.invalid === true;
}

/** Drops `index` (DROP INDEX CONCURRENTLY) when it exists and is INVALID, calling `announce` first. True when it did. */
export async function dropIfInvalid(client: pg.Client, index: string, announce: () => void): Promise<boolean> {
  if (!(await isInvalidIndex(client, index))) return false;
  announce();
  await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${index}`);
  return true;
}
