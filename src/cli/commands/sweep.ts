import { QueueEvents } from "bullmq";
import type { Config } from "../../config/settings.js";
import { createRedis } from "../../queues/redis.js";
import { createSweepQueue, enqueueSweep } from "../../queues/sweep-queue.js";
import { SWEEP_QUEUE } from "../../queues/names.js";
import { CliError } from "../context.js";

/** Enqueues a manual sweep; with `wait`, waits for a worker to run it and prints the result. */
export async function enqueueSweepCommand(config: Config, options: { dryRun: boolean; wait: boolean; timeoutMs: number }): Promise<void> {
  const redis = createRedis(config.redisUrl);
  const queue = createSweepQueue(redis, config.queuePrefix);
  // BullMQ never closes a connection it was handed: we own both and quit both.
  const eventsRedis = options.wait ? redis.duplicate() : undefined;
  const events = eventsRedis ? new QueueEvents(SWEEP_QUEUE, { connection: eventsRedis, prefix: config.queuePrefix }) : undefined;
  try {
    await events?.waitUntilReady();
    const job = await enqueueSweep(queue, { dryRun: options.dryRun });
    if (!events) {
      console.log(JSON.stringify({ enqueued: true, queue: SWEEP_QUEUE, jobId: job.id, dryRun: options.dryRun }));
      return;
    }
    try {
      const result = await job.waitUntilFinished(events, options.timeoutMs);
      console.log(JSON.stringify(result, null, 2));
    } catch (error) {
      const message = (error as Error).message;
      if (/timed out/i.test(message)) {
        throw new CliError(`sweep job ${job.id} did not finish within ${options.timeoutMs} ms: is a worker running (\`npm start\`) against the same REDIS_URL and QUEUE_PREFIX?`);
      }
      throw new CliError(`sweep job ${job.id} failed: ${message}`);
    }
  } finally {
    await events?.close();
    await eventsRedis?.quit();
    await queue.close();
    await redis.quit();
  }
}
