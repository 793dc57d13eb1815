import { QueueEvents, type Job, type Queue } from "bullmq";
import type { Config } from "../platform/config/settings.js";
import { createRedis, duplicateRedis, endConnection, REQUEST_COMMAND_TIMEOUT_MS, type RedisConnection } from "../platform/redis.js";
import { checkRedis } from "../platform/preflight.js";
import { DeadlineError, settlesWithin, withTimeout } from "../platform/deadline.js";
import { describeRedisError, ServiceError } from "../platform/service-errors.js";

/** Each close of the command's clients and connections waits at most this (then drops the connection). */
const CLOSE_MS = 1000;
/** After a wait that timed out, Redis must answer a PING within this, or the command says Redis stopped answering. */
const PING_MS = REQUEST_COMMAND_TIMEOUT_MS;

export type JobOutcome = { kind: "enqueued" } | { kind: "completed"; result: unknown } | { kind: "failed"; message: string } | { kind: "timedOut" };

/**
 * Enqueues one job from the command line and, with `waitMs`, waits for a worker to finish it.
 * Owns every connection it opens and closes them all: BullMQ never closes a connection it was
 * handed, and one left open keeps the command from exiting.
 */
export async function submitJob<Q extends Queue>(
  config: Config,
  open: (redis: RedisConnection) => Q,
  enqueue: (queue: Q) => Promise<Job>,
  waitMs: number | undefined,
): Promise<{ job: Job; outcome: JobOutcome }> {
  // Redis away: one line and exit 1 within seconds, instead of a command that waits forever.
  await checkRedis(config);
  const redis = createRedis(config.redisUrl, { clusterNodes: config.redisClusterNodes });
  const queue = open(redis);
  const eventsRedis = waitMs === undefined ? undefined : duplicateRedis(redis);
  const events = eventsRedis ? new QueueEvents(queue.name, { connection: eventsRedis, prefix: config.queuePrefix }) : undefined;
  // Every connection and client gets a listener: an unhandled error event would print the raw
  // ioredis error (with the AUTH command's arguments) to stderr. A later failure ends the command anyway.
  const ignore = () => undefined;
  for (const emitter of [redis, eventsRedis, queue, events] as ({ on(event: "error", listener: () => void): unknown } | undefined)[]) emitter?.on("error", ignore);
  try {
    // Listen before enqueuing, so a fast worker's completion cannot be missed.
    await events?.waitUntilReady();
    const job = await enqueue(queue);
    if (!events) return { job, outcome: { kind: "enqueued" } };
    try {
      return { job, outcome: { kind: "completed", result: await job.waitUntilFinished(events, waitMs) } };
    } catch (error) {
      const message = (error as Error).message;
      if (!/timed out/i.test(message)) return { job, outcome: { kind: "failed", message } };
      // No word of the job: no worker ran it, or Redis stopped answering while we waited (say which).
      const answers = await withTimeout(PING_MS, "Redis", redis.ping()).then(() => true, () => false);
      if (!answers) throw new ServiceError(`${describeRedisError(new DeadlineError("Redis", PING_MS), config.redisUrl)} (job ${job.id} was queued before it stopped answering)`);
      return { job, outcome: { kind: "timedOut" } };
    }
  } finally {
    // Bounded: on a Redis that stopped answering, a close or a quit would wait for ever.
    await Promise.all([
      (async () => {
        if (events) await settlesWithin(events.close(), CLOSE_MS);
        if (eventsRedis) await endConnection(eventsRedis, CLOSE_MS);
      })(),
      settlesWithin(queue.close(), CLOSE_MS).then(() => endConnection(redis, CLOSE_MS)),
    ]);
  }
}

export const NO_WORKER_HINT = "is a worker running (`npm start`) against the same REDIS_URL and QUEUE_PREFIX?";
