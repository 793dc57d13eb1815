import { PrismaPg } from "@prisma/adapter-pg";
import type { Logger } from "pino";
import { PrismaClient } from "../../generated/prisma/client.js";

export type Db = PrismaClient;

/**
 * No statement of the worker waits longer than this for a lock (a platform transaction left open,
 * DDL queued on a table): it fails instead, and the sweep's next interval or BullMQ's retry tries
 * again. Set per connection, so single statements need no transaction around them to carry it.
 */
export const LOCK_TIMEOUT_MS = 15_000;
/** DATABASE_STATEMENT_TIMEOUT's default: a sweep batch of 1,000 and a reprocess take milliseconds (docs/performance.md). */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 30_000;
/** DATABASE_CONNECT_TIMEOUT's default. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/**
 * How much longer than statement_timeout the client waits for an answer. The server cancels a slow
 * statement itself and says so (the clean failure); when the server cannot answer at all (frozen,
 * or a network path that eats packets, which TCP keep-alive alone does not notice for minutes),
 * the client gives up this much later and the pool discards the connection.
 */
export const CLIENT_TIMEOUT_MARGIN_MS = 2000;

export interface DbOptions {
  /** Pool size. */
  max?: number;
  /** statement_timeout and idle_in_transaction_session_timeout of every connection; the client's own timeout follows it. */
  statementTimeoutMs?: number;
  /** Opening a connection, and waiting for a free one of the pool, give up after this. */
  connectTimeoutMs?: number;
  /** Where pool and connection errors go (message and code only: never the connection string). */
  logger?: Logger;
}

/**
 * A Prisma client over a pg pool in which nothing waits forever: the server cancels statements
 * past statement_timeout and ends sessions idle in a transaction that long (a worker that froze
 * mid-transaction releases its row locks), the client gives up CLIENT_TIMEOUT_MARGIN_MS later
 * when no answer comes, connecting and queueing for a connection are bounded, and TCP
 * keep-alive finds peers that vanished. Each failure fails the statement: BullMQ retries a
 * reprocess, the sweep's next interval tries again, /readyz answers not ready.
 */
export function createDb(databaseUrl: string, options: DbOptions = {}): Db {
  const statementTimeoutMs = options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const logged = (what: string) => (error: Error) => options.logger?.warn({ err: { message: error.message, code: (error as { code?: unknown }).code } }, what);
  const adapter = new PrismaPg(
    {
      connectionString: databaseUrl,
      max: options.max ?? 5,
      options: `-c lock_timeout=${LOCK_TIMEOUT_MS} -c statement_timeout=${statementTimeoutMs} -c idle_in_transaction_session_timeout=${statementTimeoutMs}`,
      query_timeout: statementTimeoutMs + CLIENT_TIMEOUT_MARGIN_MS,
      connectionTimeoutMillis: connectTimeoutMs,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    },
    { onPoolError: logged("postgres pool error (idle connection)"), onConnectionError: logged("postgres connection error") },
  );
  return new PrismaClient({ adapter });
}
