import pg from "pg";
import type { Logger } from "pino";
import { CLIENT_TIMEOUT_MARGIN_MS, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_STATEMENT_TIMEOUT_MS, LOCK_TIMEOUT_MS } from "../platform/db/client.js";

/**
 * The outbox's own PostgreSQL connections (plain `pg`, not Prisma: its statements pass arrays and
 * snapshots, and it needs no model). Every statement stands alone — leases live in a table, no
 * session state — so the pool may point at PgBouncer in transaction mode. The same bounds as the
 * worker's other connections (src/platform/db/client.ts): nothing waits forever.
 */
export function createOutboxPool(databaseUrl: string, max: number, logger: Logger, options: { statementTimeoutMs?: number; connectTimeoutMs?: number } = {}): pg.Pool {
  const statementTimeoutMs = options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max,
    options: `-c lock_timeout=${LOCK_TIMEOUT_MS} -c statement_timeout=${statementTimeoutMs}`,
    query_timeout: statementTimeoutMs + CLIENT_TIMEOUT_MARGIN_MS,
    connectionTimeoutMillis: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  });
  // An idle connection that drops emits here; without a listener it would end the process. Message
  // and code only: never the connection string.
  pool.on("error", (error) => logger.warn({ err: { message: error.message, code: (error as { code?: unknown }).code } }, "outbox database connection error"));
  return pool;
}
