// The time of the last completed sweep, shared by every replica: Redis keys under the queue
// prefix, written by whichever replica completes a sweep. All times here come from the Redis
// server's clock, so replicas with skewed clocks agree on how long ago that was.
import type { RedisConnection as Redis } from "../platform/redis.js";

export const lastSweepKey = (prefix: string) => `${prefix}:task-watchdog:last-completed-sweep-ms`;
/** What the last completed sweep held (JSON: SweepResult["held"], `{}` when nothing), for /health/sweeps. */
export const lastSweepHeldKey = (prefix: string) => `${prefix}:task-watchdog:last-completed-sweep-held`;

/** A held status as the last completed sweep saw it (see SweepResult["held"] in src/sweep/run-sweep.ts). */
export interface LastSweepHeld {
  stuck: number;
  limit: number;
  maxTasks: number | null;
  maxShare: number | null;
  population: number | null;
}

/** The Redis server's clock, in epoch milliseconds. */
export async function redisNowMs(redis: Redis): Promise<number> {
  const [seconds, micros] = await redis.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

/** When the sweep whose holds `lastSweepHeldKey` holds began (Redis clock, epoch ms): a sweep that began earlier does not replace them. */
export const lastSweepHeldStartedKey = (prefix: string) => `${prefix}:task-watchdog:last-completed-sweep-held-started-ms`;

// KEYS: completion time, holds, when the sweep behind the holds began. ARGV: the sweep's duration (ms),
// its holds. The time is the Redis server's, read inside the script, so two replicas' records cannot
// arrive out of order. The holds are replaced only by a sweep that began no earlier than the one
// recorded: when two sweeps overlap, the newer observation stands even if the older sweep completes
// last. A recorded start later than now means the server's clock went back: then any sweep replaces it.
const RECORD_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local started = now - tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%d', now))
local recorded = tonumber(redis.call('GET', KEYS[3]))
if recorded == nil or started >= recorded or recorded > now then
  redis.call('SET', KEYS[2], ARGV[2])
  redis.call('SET', KEYS[3], string.format('%d', started))
end
return 1`;

/** Records a completed sweep that ran `durationMs`: the time, and what it held, in one script, so a reader never pairs one sweep's time with another's holds. */
export async function recordSweepCompleted(redis: Redis, prefix: string, held: Readonly<Record<string, LastSweepHeld>> = {}, durationMs = 0): Promise<void> {
  await redis.eval(RECORD_SCRIPT, 3, lastSweepKey(prefix), lastSweepHeldKey(prefix), lastSweepHeldStartedKey(prefix), String(Math.max(0, Math.round(durationMs))), JSON.stringify(held));
}

/**
 * Per status name, what the last completed sweep held (empty when nothing, or nothing is
 * recorded). For the /health/sweeps handler: not OK while this is not empty.
 */
export async function readLastSweepHeld(redis: Redis, prefix: string): Promise<Record<string, LastSweepHeld>> {
  const raw = await redis.get(lastSweepHeldKey(prefix));
  if (raw === null) return {};
  try {
    const parsed: unknown = JSON.parse(raw);
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, LastSweepHeld>) : {};
  } catch {
    return {};
  }
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
 * finds nothing recorded, e.g. a fresh Redis) gets the same span of grace from its start. A record
 * lost after this replica read it (Redis restarted without persistence, a failover to an empty
 * replica: the schedule is put back and sweeps go on) is not "no sweep since this replica started":
 * the last completion read stands until a newer one is recorded.
 */
export function sweepHealthCheck(deps: { redis: Redis; prefix: string; overdueAfterMs: number; startedAtMs: number }): () => Promise<SweepHealth> {
  let lastRead: number | null = null;
  return async () => {
    const [now, recorded] = await Promise.all([redisNowMs(deps.redis), readLastSweepCompletedMs(deps.redis, deps.prefix)]);
    if (recorded !== null) lastRead = recorded;
    const last = recorded ?? lastRead;
    const since = now - (last ?? deps.startedAtMs);
    return {
      overdue: since > deps.overdueAfterMs,
      lastCompletedAtMs: last,
      secondsSinceLastCompleted: last === null ? null : Math.max(0, Math.round(since / 1000)),
      overdueAfterSeconds: Math.round(deps.overdueAfterMs / 1000),
    };
  };
}
