// The sweep's metrics: what sweeps of this process did (counters, duration, holds), and gauges read
// at scrape time from shared state (last completed sweep, overdue and the held tasks from Redis;
// the stuck counts, taken once per SWEEP_INTERVAL for the deployment and shared through Redis
// (./stuck-counts.ts); the pause switch from PostgreSQL), so every replica reports the same value for those.
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { Db } from "../platform/db/client.js";
import type { Guarded } from "../platform/collect.js";
import { coalesced } from "../platform/coalesce.js";
import type { Rule } from "../rules/rules.js";
import { statusName } from "../rules/status.js";
import type { BatchOutcome } from "./sql/revert-stuck-tasks.js";
import { countStuckForGauges } from "./sql/count-stuck-for-gauges.js";
import { sharedStuckCounts, type SharedStuckCounts, type StuckCounts } from "./stuck-counts.js";
import type { RedisConnection } from "../platform/redis.js";
import type { Logger } from "pino";
import { statusPlansFor, type StatusPlan } from "./sweep-plan.js";
import type { SweepResult } from "./run-sweep.js";
import { pauseRule, type Pause } from "./pause.js";
import type { LastSweepHeld, SweepHealth } from "./last-sweep.js";

/** How long one read of the shared stuck counts serves this process's scrapes (both gauges of one scrape). */
const STUCK_READ_CACHE_MS = 1000;

export interface SweepMetrics {
  /** For createSweepWorker's onBatch: counts what a committed batch changed. */
  onBatch(plan: StatusPlan, outcomes: BatchOutcome[]): void;
  /** For createSweepWorker's onBatchCancelled: counted when the batch is cancelled, not when the sweep ends. */
  onBatchCancelled(plan: StatusPlan): void;
  /** For createSweepWorker's onStatusFailed: likewise. */
  onStatusFailed(plan: StatusPlan): void;
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
  /** What the last completed sweep (on any replica) held, shared through Redis. */
  lastSweepHeld: () => Promise<Readonly<Record<string, LastSweepHeld>>>;
  /** Where the stuck counts are shared (the queue prefix's Redis), and how often the deployment counts them. */
  redis: RedisConnection;
  prefix: string;
  stuckCountIntervalMs: number;
  logger: Logger;
}

export function sweepMetrics(deps: SweepMetricsDeps): SweepMetrics {
  const plans = statusPlansFor(deps.rules);
  sweepHealthGauges(deps);
  pauseGauge(deps);
  const countStuck = stuckGauges(deps, plans);
  const batches = batchCounters(deps.registers, plans);
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
  // Shared state, not this process's last sweep: a hold lifted by a sweep on another replica reads 0 here too.
  const held: Gauge = new Gauge({
    name: "watchdog_tasks_held",
    help: "Stuck tasks the last completed sweep (of any replica, shared through Redis) held: acted on none of them, more stuck than the rule's hold limit. By status; 0 once a sweep anywhere finds the hold lifted.",
    labelNames: ["status"],
    registers,
    collect: deps.guarded("tasks_held", () => held, async () => {
      const last = await deps.lastSweepHeld();
      held.reset();
      for (const status of new Set([...plans.map((p) => p.statusName), ...Object.keys(last)])) held.set({ status }, last[status]?.stuck ?? 0);
    }),
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
  const cancelledBatches = new Counter({
    name: "watchdog_sweep_batches_cancelled_total",
    help: "Sweep batches cancelled at their time cap (SWEEP_BATCH_TIME_BUDGET_MS) or the statement timeout, nothing of them applied, and retried smaller, by status. Rising steadily: the database is slow.",
    labelNames: ["status"],
    registers,
  });
  return {
    onBatch: batches.onBatch,
    // As they happen: a sweep that fails afterwards (its database lost) reports no result.
    onBatchCancelled: (plan) => cancelledBatches.inc({ status: plan.statusName }),
    onStatusFailed: (plan) => statusFailures.inc({ status: plan.statusName }),
    onSweep(result) {
      if (!result.dryRun && !result.interrupted) {
        for (const [status, h] of Object.entries(result.held)) {
          holds.inc({ status });
          if (h.rate) rateHolds.inc({ status });
        }
      }
      // What was stuck a moment ago may be fixed now: the next scrape (on any replica) counts again.
      if (!result.dryRun) {
        countStuck.read.invalidate();
        countStuck.shared.invalidate().catch((error: unknown) => deps.logger.warn({ err: error }, "could not ask for a fresh stuck count; the gauges catch up within SWEEP_INTERVAL"));
      }
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
function batchCounters(registers: Registry[], plans: readonly StatusPlan[]): Pick<SweepMetrics, "onBatch"> {
  const reverted = new Counter({
    name: "watchdog_tasks_reverted_total",
    help: "Tasks reverted by sweeps of this process, by the status they were stuck in and the one they went to.",
    labelNames: ["from", "to"],
    registers,
  });
  // Each revert rule's series at 0 from the start: increase() counts nothing for a series' first
  // sample, so a process whose first sweep reverted hundreds at once showed WatchdogRevertSpike no increase.
  for (const plan of plans) if (plan.action.kind === "revert") reverted.inc({ from: plan.statusName, to: statusName(plan.action.to) }, 0);
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
function stuckGauges({ registers, guarded, db, rules, redis, prefix, stuckCountIntervalMs }: SweepMetricsDeps, plans: readonly StatusPlan[]): { read: (() => Promise<StuckCounts>) & { invalidate(): void }; shared: SharedStuckCounts } {
  const countSeconds = new Histogram({
    name: "watchdog_stuck_count_seconds",
    help: "Database time of the counts behind watchdog_tasks_stuck and watchdog_oldest_stuck_age_seconds, taken by this process (the deployment counts once per SWEEP_INTERVAL, on whichever replica a scrape gets there first): sum over replicas for the deployment's cost.",
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const shared = sharedStuckCounts({ redis, prefix, intervalMs: stuckCountIntervalMs, onCounted: (seconds) => countSeconds.observe(seconds), count: () => countStuckForGauges(db, plans) });
  // Both gauges of one scrape share one read.
  const countStuck = coalesced(STUCK_READ_CACHE_MS, async () => {
    const counts = await shared.read();
    if (counts === null) throw new Error("no stuck counts yet: another replica is counting; the next scrape has them");
    return counts;
  });
  const countedAt: Gauge = new Gauge({
    name: "watchdog_tasks_stuck_counted_timestamp_seconds",
    help: "Unix time the counts behind watchdog_tasks_stuck were taken (once per SWEEP_INTERVAL for the deployment, shared through Redis).",
    registers,
    collect: guarded("tasks_stuck_counted", () => countedAt, async () => {
      countedAt.set((await countStuck()).computedAtMs / 1000);
    }),
  });
  const stuck: Gauge = new Gauge({
    name: "watchdog_tasks_stuck",
    help: "Tasks stuck (older than their rule's threshold, waiting for the next sweep), by status: counted once per SWEEP_INTERVAL for the whole deployment (and after a sweep that changed tasks), shared through Redis.",
    labelNames: ["status"],
    registers,
    collect: guarded("tasks_stuck", () => stuck, async () => {
      const { byStatus } = await countStuck();
      stuck.reset();
      for (const [status, { count }] of Object.entries(byStatus)) stuck.set({ status }, count);
    }),
  });
  const oldestStuckAge: Gauge = new Gauge({
    name: "watchdog_oldest_stuck_age_seconds",
    help: "Seconds since the oldest stuck task of each status entered it (0 when none is stuck). Compare with watchdog_rule_stuck_after_seconds: far above it, the sweep is not acting.",
    labelNames: ["status"],
    registers,
    collect: guarded("oldest_stuck_age", () => oldestStuckAge, async () => {
      const { byStatus } = await countStuck();
      // The entry time is stored with the count; the age is taken now, so it keeps growing between counts.
      const nowMs = Date.now();
      oldestStuckAge.reset();
      for (const [status, { oldestSinceMs }] of Object.entries(byStatus)) oldestStuckAge.set({ status }, oldestSinceMs === null ? 0 : Math.max(0, (nowMs - oldestSinceMs) / 1000));
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
  return { read: countStuck, shared };
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
