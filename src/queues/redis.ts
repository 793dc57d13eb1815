import { Redis, type RedisOptions } from "ioredis";

/**
 * How a connection behaves while Redis is away:
 * - `worker` (default): what BullMQ workers require (`maxRetriesPerRequest: null`, offline queue on):
 *   commands wait for a reconnect instead of failing while Redis is briefly away.
 * - `request`: for work done on behalf of an HTTP caller (enqueueing a reprocess, the board, health,
 *   metrics). It fails fast instead of waiting: no offline queue (a command issued while disconnected
 *   fails at once rather than running whenever Redis returns — after the caller was told it failed),
 *   one attempt per command and a bounded command time.
 */
export type RedisPurpose = "worker" | "request";

/** A command for an HTTP caller answers or fails within this. */
export const REQUEST_COMMAND_TIMEOUT_MS = 2000;

const PURPOSE_OPTIONS: Record<RedisPurpose, RedisOptions> = {
  worker: { maxRetriesPerRequest: null },
  request: { maxRetriesPerRequest: 0, enableOfflineQueue: false, commandTimeout: REQUEST_COMMAND_TIMEOUT_MS, connectTimeout: REQUEST_COMMAND_TIMEOUT_MS },
};

/**
 * Every Redis connection of the worker. The DB index in the URL path (redis://host:6379/2) is
 * honoured by ioredis. `options` override the purpose's.
 */
export function createRedis(redisUrl: string, options: RedisOptions & { purpose?: RedisPurpose } = {}): Redis {
  const { purpose = "worker", ...rest } = options;
  return new Redis(redisUrl, { lazyConnect: false, ...PURPOSE_OPTIONS[purpose], ...rest });
}
