// The repeating sweep is Redis state (BullMQ's job scheduler): a Redis restarted without persistence,
// a failover to an empty replica or a hand-removed scheduler loses it, and the queues keep working
// while no scheduled sweep ever runs again. So every replica puts it back whenever it may be missing:
// on every reconnect of the queue's connection, and at each interval (jittered, never overlapping).
// Both are an idempotent upsert (same id, same `every`): any number of replicas doing it at once still
// make one sweep per interval.
import type { Queue } from "bullmq";
import type { Logger } from "pino";
import type { RedisConnection } from "../platform/redis.js";
import { SWEEP_SCHEDULER_ID } from "../platform/queue-names.js";
import { scheduleSweep, type SweepJobData } from "./sweep-queue.js";

export interface ScheduleKeeper {
  /** Stops the checks; a check in flight is left to end (or fail) with its connection. */
  stop(): void;
}

export function keepSweepScheduled(queue: Queue<SweepJobData>, connection: RedisConnection, everyMs: number, logger: Logger): ScheduleKeeper {
  let stopped = false;
  let checking = false;
  let timer: NodeJS.Timeout | undefined;
  let lastError: string | undefined;

  const check = async (why: "reconnect" | "interval") => {
    if (stopped || checking) return;
    checking = true;
    try {
      const existing = await queue.getJobScheduler(SWEEP_SCHEDULER_ID);
      if (!existing || existing.every !== everyMs) {
        await scheduleSweep(queue, everyMs);
        // After a reconnect every replica finds it missing at once and puts it back: one line each.
        if (!stopped) logger.warn({ why, scheduler: SWEEP_SCHEDULER_ID, everyMs }, "sweep schedule was missing in Redis: re-created");
      }
      lastError = undefined;
    } catch (error) {
      // Redis away: the next reconnect or interval tries again. One line per distinct error.
      const text = (error as Error)?.message ?? String(error);
      if (!stopped && text !== lastError) logger.warn({ err: error, why }, "sweep schedule check failed; trying again");
      lastError = text;
    } finally {
      checking = false;
    }
  };
  const next = () => {
    if (stopped) return;
    timer = setTimeout(() => void check("interval").finally(next), Math.round(everyMs * (0.9 + 0.2 * Math.random())));
  };
  // `ready` follows every (re)connect; the start itself has already upserted.
  const onReady = () => void check("reconnect");
  connection.on("ready", onReady);
  next();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      connection.off("ready", onReady);
    },
  };
}
