import { QueueEvents, type Job, type Queue } from "bullmq";
import type { Config } from "../platform/config/settings.js";
import { createRedis, duplicateRedis, type RedisConnection } from "../platform/redis.js";
import { checkRedis } from "../platform/preflight.js";

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
      return { job, outcome: /timed out/i.test(message) ? { kind: "timedOut" } : { kind: "failed", message } };
    }
  } finally {
    await events?.close();
    await eventsRedis?.quit();
    await queue.close();
    await redis.quit();
  }
}

export const NO_WORKER_HINT = "is a worker running (`npm start`) against the same REDIS_URL and QUEUE_PREFIX?";
