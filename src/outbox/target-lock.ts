// One replica at a time per relay target: a session-level advisory lock on a connection of the
// relay's own pool, held while that replica reads the target's events and moves its position.
// A replica that dies (kill -9, a cut connection) loses its session and so the lock: nobody
// waits for a lease to expire.
import type pg from "pg";
import { targetLockSql } from "./sql/outbox-cursors.js";

export type LockResult<T> = { locked: true; value: T } | { locked: false };

export async function withTargetLock<T>(pool: pg.Pool, target: string, work: (client: pg.PoolClient) => Promise<T>): Promise<LockResult<T>> {
  const client = await pool.connect();
  let broken: Error | undefined;
  // A connection that drops while checked out emits here (the pool listens only to idle ones);
  // unheard, it would end the process. The query in flight fails on its own; the client is dropped.
  const onError = (error: Error) => void (broken ??= error);
  client.on("error", onError);
  try {
    const { rows } = await client.query<{ ok: boolean }>(targetLockSql("pg_try_advisory_lock"), [target]);
    if (!rows[0]?.ok) return { locked: false };
    try {
      return { locked: true, value: await work(client) };
    } finally {
      await client.query(targetLockSql("pg_advisory_unlock"), [target]).catch((error: Error) => {
        // The session is in doubt: drop it, which releases the lock for sure.
        broken = error;
      });
    }
  } catch (error) {
    broken ??= error as Error;
    throw error;
  } finally {
    client.off("error", onError);
    client.release(broken);
  }
}

export const webhookTarget = (organizationId: number) => `webhook:${organizationId}`;
export const QUEUE_TARGET = "queue";
