import type { SweepHealth } from "../metrics/last-sweep.js";
import { withTimeout } from "../metrics/timeout.js";
import type { Handler } from "./types.js";

/**
 * GET /health/sweeps: 200 while sweeps complete (on any replica), 503 when none completed within
 * the overdue span or Redis cannot say. Meant for monitoring and alerting, not for a Kubernetes
 * probe: the cause is shared by every replica, so failing readiness would take the API and the
 * board away from every replica at once, and failing liveness would restart them all in a loop.
 */
export function sweepHealthHandler(check: () => Promise<SweepHealth>): Handler {
  return async () => {
    let health: SweepHealth;
    try {
      health = await withTimeout(2000, "redis", check());
    } catch (error) {
      return { status: 503, body: { status: "unknown", error: `cannot read the last sweep from Redis: ${(error as Error).message}` } };
    }
    return {
      status: health.overdue ? 503 : 200,
      body: {
        status: health.overdue ? "overdue" : "ok",
        lastCompletedAt: health.lastCompletedAtMs === null ? null : new Date(health.lastCompletedAtMs).toISOString(),
        secondsSinceLastCompleted: health.secondsSinceLastCompleted,
        overdueAfterSeconds: health.overdueAfterSeconds,
      },
    };
  };
}
