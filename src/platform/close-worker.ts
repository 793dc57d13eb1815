import type { Worker } from "bullmq";
import type { Logger } from "pino";
import { settlesWithin } from "./deadline.js";

/**
 * A worker's graceful close, bounded. BullMQ 6.7's Worker.close() can wait for ever after Redis was
 * cut and came back (its main loop does not settle once the blocking connection is dropped while it
 * reconnects). Past `ms` the worker's connections are disconnected, which ends that wait; each
 * worker has connections of its own (platform/redis.ts: redisFactory), so this ends no other
 * worker's or queue's. A job still running then is left to BullMQ's stalled-job check, as after any
 * crash (its lock expires and another replica takes it up).
 */
export async function closeWorkerWithin(worker: Worker, ms: number, logger: Logger): Promise<void> {
  const closing = worker.close();
  if (await settlesWithin(closing, ms)) return closing;
  logger.warn({ worker: worker.name, waitedMs: ms }, "worker did not close in time; disconnecting its connections");
  await worker.disconnect().catch(() => undefined);
  if (await settlesWithin(closing, ms)) return closing;
  throw new Error(`worker ${worker.name} did not close within ${2 * ms} ms, even disconnected`);
}

/** Two bounded rounds of a worker's close (graceful, then disconnected) fit in the shutdown deadline. */
export const workerCloseMs = (config: { shutdownTimeoutMs: number }) => Math.floor(config.shutdownTimeoutMs / 3);
