import type { Worker } from "bullmq";
import type { Logger } from "pino";

/**
 * A worker's graceful close, bounded. BullMQ 6.7's Worker.close() can wait for ever after Redis was
 * cut and came back (its main loop does not settle once the blocking connection is dropped while it
 * reconnects: seen in about 1 run in 3 of the Redis-outage health test). Past `ms` the worker's
 * connections are disconnected, which ends that wait; a job still running then is left to BullMQ's
 * stalled-job check, as after any crash (its lock expires and another replica takes it up).
 */
export async function closeWorkerWithin(worker: Worker, ms: number, logger: Logger): Promise<void> {
  const closing = worker.close();
  if (await settlesWithin(closing, ms)) return closing;
  logger.warn({ worker: worker.name, waitedMs: ms }, "worker did not close in time; disconnecting its connections");
  await worker.disconnect().catch(() => undefined);
  if (await settlesWithin(closing, ms)) return closing;
  throw new Error(`worker ${worker.name} did not close within ${2 * ms} ms, even disconnected`);
}

async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([work.then(() => true, () => true), expired]);
  } finally {
    clearTimeout(timer);
  }
}
