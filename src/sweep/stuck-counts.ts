// The stuck gauges' numbers (watchdog_tasks_stuck, watchdog_oldest_stuck_age_seconds), computed
// once per interval for the whole deployment and shared through Redis, so a scrape of any replica
// reads one Redis key instead of running one statement per status (a loose index scan: one
// descent per workspace with inbox tasks) — with 50,000 workspaces, 5 replicas scraped every 2 s
// used to cost the database ~50 s per minute for one global value.
//
// Single flight: a scrape first tries `SET lock NX PX interval`. The one that gets it (on any
// replica) counts and writes the result; every other scrape serves the stored result. The lock is
// not released: it expires after the interval, so the deployment counts at most once per interval
// whether the count succeeds, fails or its replica dies. A sweep that changed tasks deletes the lock,
// so the next scrape anywhere counts again (what was stuck a moment ago may be fixed now).
import type { RedisConnection as Redis } from "../platform/redis.js";

export interface StuckOfStatus {
  count: number;
  /** Epoch ms the oldest stuck task entered its status, or null when none is stuck. */
  oldestSinceMs: number | null;
}

export interface StuckCounts {
  /** Epoch ms (this replica's clock) the count was taken. */
  computedAtMs: number;
  byStatus: Record<string, StuckOfStatus>;
}

/** How long a scrape waits for the deployment's first count, taken by another replica (within the collectors' 3 s). */
const FIRST_COUNT_WAIT_MS = 2000;
const FIRST_COUNT_POLL_MS = 100;

export const stuckCountsKey = (prefix: string) => `${prefix}:task-watchdog:stuck-counts`;
export const stuckCountsLockKey = (prefix: string) => `${prefix}:task-watchdog:stuck-counts:lock`;

export interface SharedStuckCounts {
  /** The deployment's latest counts (counting them first when this scrape wins the interval), or null before any. */
  read(): Promise<StuckCounts | null>;
  /** After a sweep that changed tasks: the next scrape anywhere counts again. */
  invalidate(): Promise<void>;
}

export function sharedStuckCounts(deps: {
  redis: Redis;
  prefix: string;
  intervalMs: number;
  count: () => Promise<Record<string, StuckOfStatus>>;
  /** How long a count took (seconds): the database time the gauges cost. */
  onCounted: (seconds: number) => void;
}): SharedStuckCounts {
  const key = stuckCountsKey(deps.prefix);
  const lockKey = stuckCountsLockKey(deps.prefix);
  const parse = (raw: string | null): StuckCounts | null => {
    if (raw === null) return null;
    try {
      const value = JSON.parse(raw) as StuckCounts;
      return typeof value?.computedAtMs === "number" && typeof value.byStatus === "object" && value.byStatus !== null ? value : null;
    } catch {
      return null;
    }
  };
  return {
    async read() {
      const won = (await deps.redis.set(lockKey, "1", "PX", Math.max(1, Math.round(deps.intervalMs)), "NX")) === "OK";
      if (!won) {
        // Nothing stored only before the deployment's first count: wait for the replica taking it.
        for (let waited = 0; ; waited += FIRST_COUNT_POLL_MS) {
          const stored = parse(await deps.redis.get(key));
          if (stored !== null || waited >= FIRST_COUNT_WAIT_MS) return stored;
          await new Promise((resolve) => setTimeout(resolve, FIRST_COUNT_POLL_MS));
        }
      }
      const started = performance.now();
      const byStatus = await deps.count();
      deps.onCounted((performance.now() - started) / 1000);
      const counts: StuckCounts = { computedAtMs: Date.now(), byStatus };
      await deps.redis.set(key, JSON.stringify(counts));
      return counts;
    },
    async invalidate() {
      await deps.redis.del(lockKey);
    },
  };
}
