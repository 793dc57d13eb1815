import { Redis, type RedisOptions } from "ioredis";

/**
 * A Redis connection for BullMQ. `maxRetriesPerRequest: null` is what BullMQ workers require:
 * commands wait for a reconnect instead of failing while Redis is briefly away.
 * The DB index in the URL path (redis://host:6379/2) is honoured by ioredis.
 */
export function createRedis(redisUrl: string, options: RedisOptions = {}): Redis {
  return new Redis(redisUrl, { maxRetriesPerRequest: null, lazyConnect: false, ...options });
}
