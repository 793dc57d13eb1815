import type { EventEmitter } from "node:events";
import { QueueEvents, type Job, type Queue } from "bullmq";
import type { Config } from "../platform/config/settings.js";
import { addForCaller, createRedis, duplicateRedis, endConnection, QueueUnavailable, REQUEST_COMMAND_TIMEOUT_MS, type RedisConnection } from "../platform/redis.js";
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
  // QueueEvents reads on a copy of the connection it is given (it blocks), which its close() cannot
  // end before that copy was ever ready (it waits for it first): a Redis that stopped answering just
  // after the check left the command alive for ever. The copies are recorded here and ended with the rest.
  const copies: RedisConnection[] = [];
  if (eventsRedis) recordCopies(eventsRedis, copies);
  const events = eventsRedis ? new QueueEvents(queue.name, { connection: eventsRedis, prefix: config.queuePrefix }) : undefined;
  // Every connection and client gets a listener: an unhandled error event would print the raw
  // ioredis error (with the AUTH command's arguments) to stderr. A later failure ends the command anyway.
  const ignore = () => undefined;
  for (const emitter of [redis, eventsRedis, queue, events] as ({ on(event: "error", listener: () => void): unknown } | undefined)[]) emitter?.on("error", ignore);
  try {
    // Bounded as an HTTP caller's add (a Redis that stopped answering after the check): one line naming REDIS_URL.
    const unavailable = (error: unknown): never => {
      if (!(error instanceof QueueUnavailable)) throw error;
      throw new ServiceError(`${describeRedisError(error.cause, config.redisUrl)}; nothing was queued`);
    };
    // Listen before enqueuing, so a fast worker's completion cannot be missed. Bounded too: a Redis
    // that stopped answering just after the check never makes the listener ready. No connection to
    // drop on a timeout (no command of ours is in it): the finally below ends them all.
    if (events) await addForCaller(undefined, events.waitUntilReady()).catch(unavailable);
    const job = await addForCaller(redis, enqueue(queue)).catch(unavailable);
    if (!events) return { job, outcome: { kind: "enqueued" } };
    try {
      return { job, outcome: { kind: "completed", result: await waitForJob(queue, job, events, waitMs!) } };
    } catch (error) {
      // Told apart by class, not by its words: a job's own failure may say "timed out" (ioredis' "Command timed out").
      if (!(error instanceof WaitTimedOut)) return { job, outcome: { kind: "failed", message: (error as Error).message } };
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
        await Promise.all([...copies, ...(eventsRedis ? [eventsRedis] : [])].map((connection) => endConnection(connection, CLOSE_MS)));
      })(),
      settlesWithin(queue.close(), CLOSE_MS).then(() => endConnection(redis, CLOSE_MS)),
    ]);
  }
}

/** Every copy made of `connection` from now on (`duplicate()`, as BullMQ makes its own) goes into `into`, with an error listener. */
function recordCopies(connection: RedisConnection, into: RedisConnection[]): void {
  const duplicate = connection.duplicate.bind(connection) as (...args: unknown[]) => RedisConnection;
  (connection as { duplicate: (...args: unknown[]) => RedisConnection }).duplicate = (...args: unknown[]) => {
    const copy = duplicate(...args);
    copy.on("error", () => undefined);
    into.push(copy);
    return copy;
  };
}

/** The wait for a job ran out (the job itself may still run later). */
class WaitTimedOut extends Error {
  override name = "WaitTimedOut";
}

/**
 * The job's result once a worker finished it, its failure as an Error, or a WaitTimedOut after `ms`.
 * BullMQ's own job.waitUntilFinished reads the job's state from inside a promise's executor: when
 * Redis stopped answering and the connection was then dropped, that read's rejection was unhandled
 * and ended the command with a stack trace. Here every read is handled.
 */
function waitForJob(queue: Queue, job: Job, queueEvents: QueueEvents, ms: number): Promise<unknown> {
  // Per-job event names (completed:<id>) are not in BullMQ's typed listener map.
  const events = queueEvents as unknown as EventEmitter;
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (settle: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      events.off(`completed:${job.id}`, onCompleted);
      events.off(`failed:${job.id}`, onFailed);
      settle();
    };
    const onCompleted = (args: { returnvalue: unknown }) => finish(() => resolve(args.returnvalue));
    const onFailed = (args: { failedReason: string }) => finish(() => reject(new Error(args.failedReason)));
    const timer = setTimeout(() => finish(() => reject(new WaitTimedOut(`job ${job.id} timed out`))), ms);
    events.on(`completed:${job.id}`, onCompleted);
    events.on(`failed:${job.id}`, onFailed);
    // A worker faster than the events' first read: the job's state says it finished. The state is read
    // first and the job after it: BullMQ records the result and the state in one script, so a job read
    // after "completed" holds its result (read before, it could be the snapshot of a job still active,
    // and the command printed a result-less line: CI, reprocess-guard). A failed read changes nothing.
    (async () => {
      const state = await queue.getJobState(job.id!);
      if (state !== "completed" && state !== "failed") return;
      const fresh = await queue.getJob(job.id!);
      if (!fresh) return; // removed once finished: its event says how
      if (state === "completed") onCompleted({ returnvalue: fresh.returnvalue });
      else onFailed({ failedReason: fresh.failedReason });
    })().catch(() => undefined);
  });
}

export const NO_WORKER_HINT = "is a worker running (`npm start`) against the same REDIS_URL and QUEUE_PREFIX?";
