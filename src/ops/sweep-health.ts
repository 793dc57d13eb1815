import { describePause, type Pause } from "../sweep/pause.js";
import type { SweepHealth } from "../sweep/last-sweep.js";
import { withTimeout } from "../platform/deadline.js";
import type { Handler } from "../api/types.js";

/** Where /health/sweeps looks: the last sweep (Redis, shared by replicas), what it held (Redis), the pauses (PostgreSQL). */
export interface SweepHealthSources {
  lastSweep: () => Promise<SweepHealth>;
  /** Per status name, what the last completed sweep held; `{}` when nothing. */
  held: () => Promise<Readonly<Record<string, { stuck: number; limit: number }>>>;
  /** The pauses in force now. */
  pauses: () => Promise<readonly Pause[]>;
}

const TIMEOUT_MS = 2000;

/**
 * GET /health/sweeps: 200 while sweeps complete (on any replica) and act; 503 when none completed
 * within the overdue span, when the last sweep held a status (too many stuck at once: an outage?),
 * when a pause is in force, or when Redis or PostgreSQL cannot say. `status` names the first of
 * overdue, held, paused; `problems` lists each in words. Meant for monitoring and alerting, not for
 * a Kubernetes probe: the cause is shared by every replica, so failing readiness would take the API
 * and the board away from every replica at once, and failing liveness would restart them all in a loop.
 */
export function sweepHealthHandler(sources: SweepHealthSources): Handler {
  return async () => {
    const [last, held, pauses] = await Promise.allSettled([
      withTimeout(TIMEOUT_MS, "redis", sources.lastSweep()),
      withTimeout(TIMEOUT_MS, "redis", sources.held()),
      withTimeout(TIMEOUT_MS, "postgres", sources.pauses()),
    ]);
    const errors = [
      ...(last.status === "rejected" ? [`cannot read the last sweep from Redis: ${(last.reason as Error).message}`] : []),
      ...(held.status === "rejected" && last.status === "fulfilled" ? [`cannot read what the last sweep held from Redis: ${(held.reason as Error).message}`] : []),
      ...(pauses.status === "rejected" ? [`cannot read the pause state from PostgreSQL: ${(pauses.reason as Error).message}`] : []),
    ];
    const heldNow = held.status === "fulfilled" ? held.value : {};
    const paused = pauses.status === "fulfilled" ? pauses.value.map(describePause) : [];
    const problems: string[] = [];
    if (last.status === "fulfilled" && last.value.overdue) {
      problems.push(
        last.value.secondsSinceLastCompleted === null
          ? `overdue: no sweep completed within ${last.value.overdueAfterSeconds} s`
          : `overdue: the last sweep completed ${last.value.secondsSinceLastCompleted} s ago (limit ${last.value.overdueAfterSeconds} s)`,
      );
    }
    for (const [status, h] of Object.entries(heldNow)) {
      const { rate, atLeast } = h as { atLeast?: boolean; rate?: { reverts: number; wouldRevert: number; limit: number; window: string } };
      const why = rate ? `${atLeast ? "at least " : ""}${h.stuck} stuck; rate hold: ${rate.reverts} reverted in the last ${rate.window}, ${rate.wouldRevert} more stuck, rate limit ${rate.limit}` : `${atLeast ? "at least " : ""}${h.stuck} stuck, limit ${h.limit}`;
      problems.push(`held: ${status} (${why}); see the hold in docs/safety.md`);
    }
    for (const p of paused) problems.push(`paused: ${p.rule === "all" ? "every rule" : p.rule} by ${p.by} since ${p.since}${p.until ? ` until ${p.until}` : " until resumed"}: ${p.reason}`);

    const status =
      errors.length > 0 ? "unknown" : last.status === "fulfilled" && last.value.overdue ? "overdue" : Object.keys(heldNow).length > 0 ? "held" : paused.length > 0 ? "paused" : "ok";
    const lastSweep = last.status === "fulfilled" ? last.value : null;
    return {
      status: status === "ok" ? 200 : 503,
      body: {
        status,
        ...(errors.length > 0 ? { error: errors.join("; ") } : {}),
        problems,
        lastCompletedAt: lastSweep?.lastCompletedAtMs == null ? null : new Date(lastSweep.lastCompletedAtMs).toISOString(),
        secondsSinceLastCompleted: lastSweep?.secondsSinceLastCompleted ?? null,
        overdueAfterSeconds: lastSweep?.overdueAfterSeconds ?? null,
        held: heldNow,
        paused,
      },
    };
  };
}
