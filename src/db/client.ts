import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "../generated/prisma/client.js";

export type Db = PrismaClient;

/**
 * No statement of the worker waits longer than this for a lock (a platform transaction left open,
 * DDL queued on a table): it fails instead, and the sweep's next interval or BullMQ's retry tries
 * again. Set per connection, so single statements need no transaction around them to carry it.
 */
export const LOCK_TIMEOUT_MS = 15_000;

export function createDb(databaseUrl: string, options: { max?: number } = {}): Db {
  const adapter = new PrismaPg({ connectionString: databaseUrl, max: options.max ?? 5, options: `-c lock_timeout=${LOCK_TIMEOUT_MS}` });
  return new PrismaClient({ adapter });
}
