import { Cluster, Redis, type RedisOptions } from "ioredis";
import type { ClusterNode } from "../config/cluster-nodes.js";

/** A standalone connection or a Redis Cluster client: BullMQ, the board and our own keys take either. */
export type RedisConnection = Redis | Cluster;

export interface CreateRedisOptions extends RedisOptions {
  /** REDIS_CLUSTER_NODES: set, the connection is an ioredis Cluster seeded with these nodes. */
  clusterNodes?: readonly ClusterNode[];
}

/**
 * Every Redis connection of the worker comes from here. `maxRetriesPerRequest: null` is what BullMQ
 * workers require: commands wait for a reconnect instead of failing while Redis is briefly away.
 *
 * Standalone: the DB index in the URL path (redis://host:6379/2) is honoured by ioredis.
 * Cluster: the nodes are the seeds (the client discovers the rest); user, password and TLS
 * (`rediss:`) come from `redisUrl`, whose host and port are not used. A cluster has database 0 only,
 * and every key of a queue must hash to one slot, hence the braced QUEUE_PREFIX (checked at load).
 */
export function createRedis(redisUrl: string, options?: RedisOptions): Redis;
export function createRedis(redisUrl: string, options: CreateRedisOptions): RedisConnection;
export function createRedis(redisUrl: string, options: CreateRedisOptions = {}): RedisConnection {
  const { clusterNodes, ...rest } = options;
  const redisOptions: RedisOptions = { maxRetriesPerRequest: null, lazyConnect: false, ...rest };
  if (clusterNodes === undefined || clusterNodes.length === 0) return new Redis(redisUrl, redisOptions);
  return new Cluster(
    clusterNodes.map((n) => ({ host: n.host, port: n.port })),
    { redisOptions: { ...credentialsOf(redisUrl), ...redisOptions }, lazyConnect: redisOptions.lazyConnect ?? false },
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
