// The time of the last completed sweep, shared by every replica: one Redis key under the queue
// prefix, written by whichever replica completes a sweep. All times here come from the Redis
// server's clock, so replicas with skewed clocks agree on how long ago that was.
import type { RedisConnection as Redis } from "../queues/redis.js";

export const lastSweepKey = (prefix: string) => `${prefix}:task-watchdog:last-completed-sweep-ms`;

/** The Redis server's clock, in epoch milliseconds. */
export async function redisNowMs(redis: Redis): Promise<number> {
  const [seconds, micros] = await redis.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

export async function recordSweepCompleted(redis: Redis, prefix: string): Promise<void> {
  await redis.set(lastSweepKey(prefix), String(await redisNowMs(redis)));
}

export async function readLastSweepCompletedMs(redis: Redis, prefix: string): Promise<number | null> {
  const raw = await redis.get(lastSweepKey(prefix));
  const ms = raw === null ? NaN : Number(raw);
  return Number.isFinite(ms) ? ms : null;
}

export interface SweepHealth {
  overdue: boolean;
  lastCompletedAtMs: number | null;
  /** Since the last completed sweep, or since this replica started when none is recorded. */
  secondsSinceLastCompleted: number | null;
  overdueAfterSeconds: number;
}

/**
 * Overdue = no sweep completed anywhere within `overdueAfterMs`. A replica that just started (and
 * finds nothing recorded, e.g. a fresh Redis) gets the same span of grace from its start.
 */
export function sweepHealthCheck(deps: { redis: Redis; prefix: string; overdueAfterMs: number; startedAtMs: number }): () => Promise<SweepHealth> {
  return async () => {
    const [now, last] = await Promise.all([redisNowMs(deps.redis), readLastSweepCompletedMs(deps.redis, deps.prefix)]);
    const since = now - (last ?? deps.startedAtMs);
    return {
      overdue: since > deps.overdueAfterMs,
      lastCompletedAtMs: last,
      secondsSinceLastCompleted: last === null ? null : Math.max(0, Math.round(since / 1000)),
      overdueAfterSeconds: Math.round(deps.overdueAfterMs / 1000),
    };
  };
}
