import { Cluster, Redis, type RedisOptions } from "ioredis";
import type { Logger } from "pino";
import type { ClusterNode } from "./config/cluster-nodes.js";
import type { Config } from "./config/settings.js";
import type { Queue } from "bullmq";
import { emitsWithin, settlesWithin, withTimeout } from "./deadline.js";
import { throttledErrorLog } from "./log-safety.js";

/** A standalone connection or a Redis Cluster client: BullMQ, the board and our own keys take either. */
export type RedisConnection = Redis | Cluster;

/**
 * How a connection behaves while Redis is away (its role):
 * - `worker` (default): what a BullMQ worker requires (`maxRetriesPerRequest: null`, offline queue on):
 *   commands wait for a reconnect instead of failing while Redis is briefly away.
 * - `producer`: a queue or our own keys written by background work (the sweep's last-completed
 *   time): like `worker`, a command waits for Redis to return rather than being lost.
 * - `request`: for work done on behalf of an HTTP caller (enqueueing a reprocess, the board, health,
 *   metrics). It fails fast instead of waiting: no offline queue (a command issued while disconnected
 *   fails at once rather than running whenever Redis returns — after the caller was told it failed),
 *   no retry of a command and a bounded command time.
 */
export type RedisPurpose = "worker" | "producer" | "request";

/** A disconnected socket whose peer does not answer is destroyed after this. */
export const DISCONNECT_TIMEOUT_MS = 300;

/**
 * At shutdown a connected background connection gets this long to QUIT (what it sent is answered)
 * before it is dropped: the work in flight was drained before, and a Redis that is frozen (the
 * connection still says ready) would otherwise hold the close for the rest of the budget.
 */
export const QUIT_TIMEOUT_MS = 1000;

/** A command for an HTTP caller answers or fails within this. */
export const REQUEST_COMMAND_TIMEOUT_MS = 2000;

/**
 * A primary demoted at a failover (Sentinel, a managed service) keeps the connections it had and
 * refuses every write with READONLY while PING still answers: the worker stood still, ready, for as
 * long as the process lived. On READONLY the connection reconnects (the address now leads to the new
 * primary); a background one sends the refused command again (refused, so not applied), a fail-fast
 * one fails it to its caller (503) and is ready for the next.
 */
const READONLY = /^READONLY\b/;
const reconnectOnReadOnly = (resend: boolean) => (error: Error) => (READONLY.test(error.message) ? (resend ? 2 : 1) : false);

const PURPOSE_OPTIONS: Record<RedisPurpose, RedisOptions> = {
  worker: { maxRetriesPerRequest: null, reconnectOnError: reconnectOnReadOnly(true) },
  producer: { maxRetriesPerRequest: null, reconnectOnError: reconnectOnReadOnly(true) },
  request: {
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    commandTimeout: REQUEST_COMMAND_TIMEOUT_MS,
    connectTimeout: REQUEST_COMMAND_TIMEOUT_MS,
    reconnectOnError: reconnectOnReadOnly(false),
  },
};

/** An add for an HTTP caller answers or fails within this; the caller is answered (503) well within 3 s. */
export const ENQUEUE_TIMEOUT_MS = 2500;

/**
 * Redis did not take a job an HTTP caller asked for: it refused it, or did not answer within
 * ENQUEUE_TIMEOUT_MS. Nothing was queued: the connection was dropped with the command (which a
 * network path that stopped forwarding then never delivers; a Redis server frozen with the command
 * already in its socket buffer would still run it when it resumes — docs/reliability.md).
 */
export class QueueUnavailable extends Error {
  override readonly name = "QueueUnavailable";
}

/**
 * `add` for an HTTP caller, over `connection` (a fail-fast one, purpose "request"): done within
 * ENQUEUE_TIMEOUT_MS, else QueueUnavailable. A command written to a connection that stopped
 * answering would run whenever the connection came back — after the caller was told it failed —
 * so on any failure the connection is dropped (it reconnects), and the command with it.
 */
export async function addForCaller<T>(connection: RedisConnection | undefined, add: Promise<T>): Promise<T> {
  try {
    return await withTimeout(ENQUEUE_TIMEOUT_MS, "redis", add);
  } catch (error) {
    connection?.disconnect(true);
    throw new QueueUnavailable("the queue (Redis) is unavailable; nothing was queued, try again later", { cause: error });
  }
}

/** `queue`'s add (and the look at a job's state a replay request makes) through addForCaller, over the queue's own connection (an instance handed to BullMQ). */
export function addsForCaller<D>(queue: Queue<D>): Pick<Queue<D>, "add" | "getJobState"> {
  const connection = queue.opts.connection;
  const own = connection instanceof Redis || connection instanceof Cluster ? connection : undefined;
  return {
    add: ((...args: Parameters<Queue<D>["add"]>) => addForCaller(own, queue.add(...args))) as Queue<D>["add"],
    getJobState: (jobId: string) => addForCaller(own, queue.getJobState(jobId)),
  };
}

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
  // disconnectTimeout: after disconnect(), how long ioredis waits for the peer to close the socket
  // before destroying it (its default, 2 s, kept a shut-down process alive past SHUTDOWN_TIMEOUT when
  // Redis was cut or frozen); this must fit the shutdown budget's margin (platform/deadline.ts).
  const redisOptions: RedisOptions = { lazyConnect: false, disconnectTimeout: DISCONNECT_TIMEOUT_MS, ...PURPOSE_OPTIONS[purpose], ...rest };
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

/**
 * Ends `connection` within `ms`: quit flushes what was sent, on a connection that is up; on one that
 * is not connected (reconnecting, or frozen past `ms`) quit would only wait, so disconnect ends it at
 * once and fails what it still queues.
 */
export async function endConnection(connection: RedisConnection, ms: number): Promise<void> {
  if (connection.status === "end") return;
  if (connection.status === "ready" && ms > 0 && (await settlesWithin(connection.quit(), ms))) return;
  connection.disconnect();
}

/** A second connection like `connection` (QueueEvents needs its own: it blocks on XREAD). */
export function duplicateRedis(connection: RedisConnection): RedisConnection {
  return connection instanceof Cluster ? connection.duplicate() : connection.duplicate();
}

/**
 * Where the running worker gets its Redis connections: one per BullMQ worker, per queue and per
 * client, never shared, so closing or disconnecting one (a worker's bounded close may disconnect
 * its connections) cannot end another's. Each has an error listener: an outage is logged once, then
 * summarised every 10 s, for all the background connections together (the fail-fast `request`
 * ones log at debug: their callers already get a 503).
 */
export interface RedisFactory {
  /** A new connection; `name` shows in logs. The factory closes it last (`close`). */
  connect(purpose: RedisPurpose, name: string): RedisConnection;
  /** Waits, at most `ms`, until every `request` connection is ready: without an offline queue, a command sent before the first connect fails. */
  requestReadyWithin(ms: number): Promise<void>;
  /** Ends every connection made: `quit` (bounded by `ms` and QUIT_TIMEOUT_MS, then `disconnect`) for the background ones that are connected, `disconnect` for the others. */
  close(ms: number): Promise<void>;
}

export function redisFactory(config: Pick<Config, "redisUrl" | "redisClusterNodes">, logger: Logger): RedisFactory {
  const made: { purpose: RedisPurpose; connection: RedisConnection }[] = [];
  const backgroundError = throttledErrorLog(logger, "redis connection error");
  return {
    connect(purpose, name) {
      const onError = purpose === "request" ? (error: unknown) => logger.debug({ err: error, connection: name }, "redis connection error (HTTP connection)") : backgroundError;
      // A reconnect on READONLY (a failover) is said as an error is: a server that stays a replica is not a silent loop.
      const onReadOnly = reconnectOnReadOnly(purpose !== "request");
      const reconnectOnError = (error: Error) => {
        const reconnect = onReadOnly(error);
        if (reconnect) onError(error);
        return reconnect;
      };
      const connection = createRedis(config.redisUrl, { clusterNodes: config.redisClusterNodes, purpose, reconnectOnError });
      connection.on("error", onError);
      made.push({ purpose, connection });
      return connection;
    },
    async requestReadyWithin(ms) {
      const pending = made.filter((m) => m.purpose === "request").map((m) => m.connection);
      await Promise.all(pending.map((c) => emitsWithin(c, "ready", ms, c.status === "ready")));
    },
    async close(ms) {
      await Promise.all(
        // A fail-fast connection has nothing worth flushing: it is disconnected at once.
        made.splice(0).map(({ purpose, connection }) => endConnection(connection, purpose === "request" ? 0 : Math.min(ms, QUIT_TIMEOUT_MS))),
      );
    },
  };
}
