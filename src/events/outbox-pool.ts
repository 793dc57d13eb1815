import pg from "pg";
import type { Logger } from "pino";
import { LOCK_TIMEOUT_MS } from "../db/client.js";

/**
 * The relay's own PostgreSQL connections (plain `pg`, not Prisma): a session-level advisory lock
 * needs the same connection from lock to unlock, which a Prisma call does not promise.
 */
export function createOutboxPool(databaseUrl: string, max: number, logger: Logger): pg.Pool {
  const pool = new pg.Pool({ connectionString: databaseUrl, max, options: `-c lock_timeout=${LOCK_TIMEOUT_MS}` });
  // An idle connection that drops emits here; without a listener it would crash the process.
  pool.on("error", (error) => logger.warn({ err: error }, "outbox database connection error"));
  return pool;
}
