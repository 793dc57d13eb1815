// The sweep's metrics: what sweeps of this process did (counters, duration, holds), and gauges read
// at scrape time from shared state (last completed sweep and overdue from Redis; stuck tasks and
// the pause switch from PostgreSQL), so every replica reports the same value for those.
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { Db } from "../platform/db/client.js";
import type { Guarded } from "../platform/collect.js";
import { coalesced } from "../platform/coalesce.js";
import type { Rule } from "../rules/rules.js";
import { statusName } from "../rules/status.js";
import type { BatchOutcome } from "./sql/revert-stuck-tasks.js";
import { countStuckByProbe } from "./sql/count-stuck-by-probe.js";
import { statusPlansFor, type StatusPlan } from "./sweep-plan.js";
import type { SweepResult } from "./run-sweep.js";
import { pauseRule, type Pause } from "./pause.js";
import type { SweepHealth } from "./last-sweep.js";

/** How long one count of stuck tasks serves scrapes: several Prometheus servers cost one query. */
export const STUCK_CACHE_MS = 5000;

export interface SweepMetrics {
  /** For createSweepWorker's onBatch: counts what a committed batch changed. */
  onBatch(plan: StatusPlan, outcomes: BatchOutcome[]): void;
  /** For createSweepWorker's onSweep. */
  onSweep(result: SweepResult): void;
  /** The sweep worker's "failed" event. */
  onSweepFailed(dryRun: boolean): void;
}

export interface SweepMetricsDeps {
  registers: Registry[];
  guarded: Guarded;
  db: Db;
  rules: readonly Rule[];
  sweepHealth: () => Promise<SweepHealth>;
  /** The pauses in force now (PostgreSQL, shared by every replica). */
  pauses: () => Promise<readonly Pause[]>;
}

export function sweepMetrics(deps: SweepMetricsDeps): SweepMetrics {
  const plans = statusPlansFor(deps.rules);
  sweepHealthGauges(deps);
  pauseGauge(deps);
  const countStuck = stuckGauges(deps, plans);
  const batches = batchCounters(deps.registers);
  const { registers } = deps;
  const sweeps = new Counter({
    name: "watchdog_sweeps_total",
    help: "Sweeps run by this process, by outcome (completed, interrupted by shutdown, failed) and dry_run.",
    labelNames: ["outcome", "dry_run"],
    registers,
  });
  const sweepDuration = new Histogram({
    name: "watchdog_sweep_duration_seconds",
    help: "Wall time of the sweeps run by this process that finished (completed or interrupted).",
    labelNames: ["dry_run"],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers,
  });
  const held = new Gauge({
    name: "watchdog_tasks_held",
    help: "Stuck tasks the last sweep of this process held (acted on none of: more stuck than the rule's hold limit), by status. 0 once the hold lifts.",
    labelNames: ["status"],
    registers,
  });
  const holds = new Counter({ name: "watchdog_sweep_holds_total", help: "Sweeps of this process that held a status (dry runs not counted), by status.", labelNames: ["status"], registers });
  const rateHolds = new Counter({
    name: "watchdog_sweep_rate_holds_total",
    help: "Sweeps of this process that held a status by its rate hold (too many reverts within its window; dry runs not counted), by status. Also counted in watchdog_sweep_holds_total.",
    labelNames: ["status"],
    registers,
  });
  const statusFailures = new Counter({
    name: "watchdog_sweep_status_failures_total",
    help: "Statuses whose sweep statement failed (the sweep went on with the others), by status.",
    labelNames: ["status"],
    registers,
  });
  for (const plan of plans) held.set({ status: plan.statusName }, 0);
  return {
    onBatch: batches.onBatch,
    onSweep(result) {
      for (const status of Object.keys(result.failed)) statusFailures.inc({ status });
      if (!result.dryRun && !result.interrupted) {
        held.reset();
        for (const plan of plans) held.set({ status: plan.statusName }, result.held[plan.statusName]?.stuck ?? 0);
        for (const [status, h] of Object.entries(result.held)) {
          holds.inc({ status });
          if (h.rate) rateHolds.inc({ status });
        }
      }
      // What was stuck a moment ago may be fixed now: the next scrape counts again.
      if (!result.dryRun) countStuck.invalidate();
      const dryRun = String(result.dryRun);
      sweeps.inc({ outcome: result.interrupted ? "interrupted" : "completed", dry_run: dryRun });
      sweepDuration.observe({ dry_run: dryRun }, result.durationMs / 1000);
    },
    onSweepFailed(dryRun) {
      sweeps.inc({ outcome: "failed", dry_run: String(dryRun) });
    },
  };
}

/** What committed batches changed, by status. */
function batchCounters(registers: Registry[]): Pick<SweepMetrics, "onBatch"> {
  const reverted = new Counter({
    name: "watchdog_tasks_reverted_total",
    help: "Tasks reverted by sweeps of this process, by the status they were stuck in and the one they went to.",
    labelNames: ["from", "to"],
    registers,
  });
  const movedToHistory = new Counter({ name: "watchdog_tasks_moved_to_history_total", help: "Tasks moved to history by sweeps of this process, by status.", labelNames: ["status"], registers });
  const flagged = new Counter({
    name: "watchdog_tasks_flagged_total",
    help: "Tasks flagged by report-only rules in sweeps of this process (once per stuck episode), by status.",
    labelNames: ["status"],
    registers,
  });
  const escalated = new Counter({
    name: "watchdog_tasks_escalated_total",
    help: "Automatic reverts that reached ESCALATE_AFTER_REVERTS for their task (\"needs support\"), by the status they were stuck in.",
    labelNames: ["status"],
    registers,
  });
  return {
    onBatch(plan, outcomes) {
      for (const o of outcomes) {
        if (o.count === 0) continue;
        if (plan.action.kind === "revert") reverted.inc({ from: plan.statusName, to: statusName(o.toStatus ?? plan.status) }, o.count);
        else if (plan.action.kind === "moveToHistory") movedToHistory.inc({ status: plan.statusName }, o.count);
        else flagged.inc({ status: plan.statusName }, o.count);
        if (o.escalated > 0) escalated.inc({ status: plan.statusName }, o.escalated);
      }
    },
  };
}

/** watchdog_last_sweep_completed_timestamp_seconds and watchdog_sweep_overdue: one Redis round trip per scrape (collectors run concurrently). */
function sweepHealthGauges({ registers, guarded, sweepHealth: read }: SweepMetricsDeps): void {
  const sweepHealth = coalesced(1000, read);
  const lastCompleted: Gauge = new Gauge({
    name: "watchdog_last_sweep_completed_timestamp_seconds",
    help: "Unix time of the last sweep completed by any replica (shared through Redis); 0 until one completes or when Redis cannot be read.",
    registers,
    collect: guarded("last_sweep_completed", () => lastCompleted, async () => {
      lastCompleted.set(((await sweepHealth()).lastCompletedAtMs ?? 0) / 1000);
    }),
  });
  const overdue: Gauge = new Gauge({
    name: "watchdog_sweep_overdue",
    help: "1 when no sweep completed on any replica within SWEEP_OVERDUE_AFTER (default 3 × SWEEP_INTERVAL), or Redis cannot say; else 0. Alert on it.",
    registers,
    collect: guarded(
      "sweep_overdue",
      () => overdue,
      async () => {
        overdue.set((await sweepHealth()).overdue ? 1 : 0);
      },
      // Without Redis no sweep can run either: unknown reads as overdue, never as healthy.
      () => overdue.set(1),
    ),
  });
}

/** watchdog_tasks_stuck, watchdog_oldest_stuck_age_seconds (one cached count serves both) and the static watchdog_rule_stuck_after_seconds. */
function stuckGauges({ registers, guarded, db, rules }: SweepMetricsDeps, plans: readonly StatusPlan[]) {
  const countStuck = coalesced(STUCK_CACHE_MS, async () => {
    const byStatus = new Map<string, { count: number; oldestSinceMs: number | null }>();
    // One statement per status, whatever its workspace overrides; they add up under its name.
    for (const plan of plans) {
      const { byProbe } = await countStuckByProbe(db, plan, { sampleSize: 0 });
      const entry = { count: 0, oldestSinceMs: null as number | null };
      for (const { count, oldestSince } of byProbe.values()) {
        entry.count += count;
        if (oldestSince !== null) entry.oldestSinceMs = Math.min(entry.oldestSinceMs ?? Infinity, oldestSince.getTime());
      }
      byStatus.set(plan.statusName, entry);
    }
    return byStatus;
  });
  const stuck: Gauge = new Gauge({
    name: "watchdog_tasks_stuck",
    help: "Tasks stuck right now (older than their rule's threshold, waiting for the next sweep), by status. Cached a few seconds.",
    labelNames: ["status"],
    registers,
    collect: guarded("tasks_stuck", () => stuck, async () => {
      const byStatus = await countStuck();
      stuck.reset();
      for (const [status, { count }] of byStatus) stuck.set({ status }, count);
    }),
  });
  const oldestStuckAge: Gauge = new Gauge({
    name: "watchdog_oldest_stuck_age_seconds",
    help: "Seconds since the oldest stuck task of each status entered it (0 when none is stuck). Compare with watchdog_rule_stuck_after_seconds: far above it, the sweep is not acting.",
    labelNames: ["status"],
    registers,
    collect: guarded("oldest_stuck_age", () => oldestStuckAge, async () => {
      const byStatus = await countStuck();
      // The entry time is cached with the count; the age is taken now, so it keeps growing between queries.
      const nowMs = Date.now();
      oldestStuckAge.reset();
      for (const [status, { oldestSinceMs }] of byStatus) oldestStuckAge.set({ status }, oldestSinceMs === null ? 0 : Math.max(0, (nowMs - oldestSinceMs) / 1000));
    }),
  });
  // Static: what each status's rule waits before acting, so alerts can compare ages with thresholds.
  const ruleStuckAfter = new Gauge({
    name: "watchdog_rule_stuck_after_seconds",
    help: "The stuck threshold of each enabled rule (workspace overrides aside), by status and action (revert, moveToHistory, flag).",
    labelNames: ["status", "action"],
    registers,
  });
  for (const rule of rules) if (rule.enabled) ruleStuckAfter.set({ status: statusName(rule.status), action: rule.action.kind }, rule.stuckAfterSeconds);
  return countStuck;
}

/** watchdog_paused: every rule has a series (0 or 1), so a dashboard shows the switch before anyone flips it. */
function pauseGauge({ registers, guarded, rules, pauses }: SweepMetricsDeps): void {
  const pauseLabels = ["all", ...rules.map((r) => statusName(r.status))];
  const paused: Gauge = new Gauge({
    name: "watchdog_paused",
    help: 'Pause switch (watchdog pause / resume): 1 while a pause is in force, by rule ("all" or a status name), else 0. Read from PostgreSQL, shared by every replica.',
    labelNames: ["rule"],
    registers,
    collect: guarded("paused", () => paused, async () => {
      const open = new Set((await pauses()).map((p) => pauseRule(p.status)));
      paused.reset();
      for (const rule of new Set([...pauseLabels, ...open])) paused.set({ rule }, open.has(rule) ? 1 : 0);
    }),
  });
}
