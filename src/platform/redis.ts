import { Cluster, Redis, type RedisOptions } from "ioredis";
import type { ClusterNode } from "./config/cluster-nodes.js";

/** A standalone connection or a Redis Cluster client: BullMQ, the board and our own keys take either. */
export type RedisConnection = Redis | Cluster;

/**
 * How a connection behaves while Redis is away:
 * - `worker` (default): what BullMQ workers require (`maxRetriesPerRequest: null`, offline queue on):
 *   commands wait for a reconnect instead of failing while Redis is briefly away.
 * - `request`: for work done on behalf of an HTTP caller (enqueueing a reprocess, the board, health,
 *   metrics). It fails fast instead of waiting: no offline queue (a command issued while disconnected
 *   fails at once rather than running whenever Redis returns — after the caller was told it failed),
 *   no retry of a command and a bounded command time.
 */
export type RedisPurpose = "worker" | "request";

/** A command for an HTTP caller answers or fails within this. */
export const REQUEST_COMMAND_TIMEOUT_MS = 2000;

const PURPOSE_OPTIONS: Record<RedisPurpose, RedisOptions> = {
  worker: { maxRetriesPerRequest: null },
  request: { maxRetriesPerRequest: 0, enableOfflineQueue: false, commandTimeout: REQUEST_COMMAND_TIMEOUT_MS, connectTimeout: REQUEST_COMMAND_TIMEOUT_MS },
};

export interface CreateRedisOptions extends RedisOptions {
  /** REDIS_CLUSTER_NODES: set, the connection is an ioredis Cluster seeded with these nodes. */
  clusterNodes?: readonly ClusterNode[];
  purpose?: RedisPurpose;
}

/**
 * Every Redis connection of the worker comes from here; `purpose` picks how it behaves while
 * Redis is away (above), other options override the purpose's.
 *
 * Standalone: the DB index in the URL path (redis://host:6379/2) is honoured by ioredis.
 * Cluster: the nodes are the seeds (the client discovers the rest); user, password and TLS
 * (`rediss:`) come from `redisUrl`, whose host and port are not used. A cluster has database 0 only,
 * and every key of a queue must hash to one slot, hence the braced QUEUE_PREFIX (checked at load).
 */
export function createRedis(redisUrl: string, options?: RedisOptions & { purpose?: RedisPurpose }): Redis;
export function createRedis(redisUrl: string, options: CreateRedisOptions): RedisConnection;
export function createRedis(redisUrl: string, options: CreateRedisOptions = {}): RedisConnection {
  const { clusterNodes, purpose = "worker", ...rest } = options;
  const redisOptions: RedisOptions = { lazyConnect: false, ...PURPOSE_OPTIONS[purpose], ...rest };
  if (clusterNodes === undefined || clusterNodes.length === 0) return new Redis(redisUrl, redisOptions);
  return new Cluster(
    clusterNodes.map((n) => ({ host: n.host, port: n.port })),
    {
      redisOptions: { ...credentialsOf(redisUrl), ...redisOptions },
      lazyConnect: redisOptions.lazyConnect ?? false,
      ...(purpose === "request" ? { enableOfflineQueue: false, maxRedirections: 4 } : {}),
    },
  );
}

function credentialsOf(redisUrl: string): Pick<RedisOptions, "username" | "password" | "tls"> {
  const u = new URL(redisUrl);
  return {
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.protocol === "rediss:" ? { tls: {} } : {}),
  };
}

/** A second connection like `connection` (QueueEvents needs its own: it blocks on XREAD). */
export function duplicateRedis(connection: RedisConnection): RedisConnection {
  return connection instanceof Cluster ? connection.duplicate() : connection.duplicate();
}
