// The Prometheus metrics of one worker process, in their own Registry. Counters and the sweep
// histogram are per process (sum them across replicas); the gauges computed at scrape time
// (stuck tasks, held tasks, queue depths, last sweep, overdue, pauses) read shared state, so every
// replica reports the same value (take max, not sum). The stuck counts are taken once per
// SWEEP_INTERVAL for the whole deployment and shared through Redis (./stuck-counts.ts). A collector that fails is logged and counted, and its
// metric is left empty for that scrape: a scrape never fails because Postgres hiccupped.
import type { Queue } from "bullmq";
import type { Logger } from "pino";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Db } from "../platform/db/client.js";
import type { BatchOutcome } from "../sweep/sql/revert-stuck-tasks.js";
import { countStuckForGauges } from "./sql/count-stuck-for-gauges.js";
import type { Rule } from "../rules/rules.js";
import { statusPlansFor, type StatusPlan } from "../sweep/sweep-plan.js";
import { statusName } from "../rules/status.js";
import type { SweepResult } from "../sweep/run-sweep.js";
import { pauseRule, type Pause } from "../sweep/pause.js";
import type { ReprocessJobOutcome } from "../reprocess/reprocess-worker.js";
import type { LastSweepHeld, SweepHealth } from "../sweep/last-sweep.js";
import type { RedisConnection } from "../platform/redis.js";
import { sharedStuckCounts } from "./stuck-counts.js";
import { coalesced } from "../platform/coalesce.js";
import { withTimeout } from "../platform/deadline.js";

/** How long one read of the shared stuck counts serves this process's scrapes (both gauges of one scrape). */
const STUCK_READ_CACHE_MS = 1000;

/**
 * Queue counts are not kept after they settle (a scrape shows the state of its moment), only
 * shared while in flight: concurrent scrapes cost Redis one round of counts.
 */
const QUEUE_CACHE_MS = 0;

/** A collector slower than this is reported as failed, so a scrape answers while Redis or Postgres is away. */
const COLLECT_TIMEOUT_MS = 3000;

export const QUEUE_STATES = ["waiting", "active", "delayed", "prioritized", "waiting-children", "completed", "failed"] as const;

/** Outcomes of PATCH …/restartprocessing calls; the jobs' own are ReprocessJobOutcome (queues/reprocess-worker.ts). */
export type ReprocessRequestOutcome = "accepted" | "not_found" | "bad_request" | "conflict" | "unauthorized" | "unavailable" | "error";

export interface MetricsDeps {
  db: Db;
  rules: readonly Rule[];
  queues: readonly Queue[];
  sweepHealth: () => Promise<SweepHealth>;
  /** What the last completed sweep (on any replica) held, shared through Redis. */
  lastSweepHeld: () => Promise<Readonly<Record<string, LastSweepHeld>>>;
  /** Where the stuck counts are shared (the queue prefix's Redis), and how often the deployment counts them. */
  redis: RedisConnection;
  prefix: string;
  stuckCountIntervalMs: number;
  /** The pauses in force now (PostgreSQL, shared by every replica). */
  pauses: () => Promise<readonly Pause[]>;
  logger: Logger;
  /** For watchdog_build_info. */
  build: BuildInfo;
}

export interface BuildInfo {
  version: string;
  commit: string;
  /** CELL: the `cell` label of every metric, when set. */
  cell?: string | undefined;
}

export interface Metrics {
  registry: Registry;
  /** For createSweepWorker's onBatch: counts what a committed batch changed. */
  onBatch(plan: StatusPlan, outcomes: BatchOutcome[]): void;
  /** For createSweepWorker's onSweep. */
  onSweep(result: SweepResult): void;
  /** The sweep worker's "failed" event. */
  onSweepFailed(dryRun: boolean): void;
  reprocessRequest(outcome: ReprocessRequestOutcome): void;
  /** For createReprocessWorker's onOutcome: one count per delivery of a reprocess job. */
  reprocessJob(outcome: ReprocessJobOutcome): void;
  /** The HTTP server's onFault: a request refused before a handler, or a handler that threw. */
  httpFault(kind: string): void;
}

export function createMetrics(deps: MetricsDeps): Metrics {
  const registry = new Registry();
  // Before any metric is registered: every series of this process carries its cell.
  if (deps.build.cell !== undefined) registry.setDefaultLabels({ cell: deps.build.cell });
  collectDefaultMetrics({ register: registry });
  // prom-client names these gauges `_total`, which Prometheus reserves for counters (`promtool check
  // metrics` refuses them); each is the sum of its labelled twin (nodejs_active_handles{type}, …).
  for (const name of ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"]) registry.removeSingleMetric(name);
  const registers = [registry];

  const collectErrors = new Counter({
    name: "watchdog_metrics_collect_errors_total",
    help: "Scrape-time collectors that failed (their metric is empty for that scrape), by collector.",
    labelNames: ["collector"],
    registers,
  });
  /**
   * Runs a scrape-time collector; on failure logs, counts and runs `onFailure` (by default the
   * gauge is reset: a labelled gauge then has no samples, an unlabelled one reads 0).
   */
  const guarded = (name: string, gauge: () => Gauge, collect: () => Promise<void>, onFailure = () => gauge().reset()) => async () => {
    try {
      await withTimeout(COLLECT_TIMEOUT_MS, name, collect());
    } catch (error) {
      onFailure();
      collectErrors.inc({ collector: name });
      deps.logger.warn({ err: error, collector: name }, "metrics collector failed");
    }
  };

  const reverted = new Counter({
    name: "watchdog_tasks_reverted_total",
    help: "Tasks reverted by sweeps of this process, by the status they were stuck in and the one they went to.",
    labelNames: ["from", "to"],
    registers,
  });
  const movedToHistory = new Counter({
    name: "watchdog_tasks_moved_to_history_total",
    help: "Tasks moved to history by sweeps of this process, by status.",
    labelNames: ["status"],
    registers,
  });
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
  const reprocessRequests = new Counter({
    name: "watchdog_reprocess_requests_total",
    help: "Calls of PATCH …/restartprocessing, by outcome (accepted, not_found, bad_request, conflict, unauthorized, unavailable, error).",
    labelNames: ["outcome"],
    registers,
  });
  const reprocessJobs = new Counter({
    name: "watchdog_reprocess_jobs_total",
    help: "Deliveries of task-reprocess jobs processed by this process, by outcome: applied, already_applied (a redelivery), bad_request, not_found, conflict (guard refused), retried (a fault, another attempt follows), failed (a fault on the last attempt).",
    labelNames: ["outcome"],
    registers,
  });
  const httpFaults = new Counter({
    name: "watchdog_http_faults_total",
    help: "HTTP requests that never reached a handler or whose handler threw, by kind (bad_target, client_error, handler_failed, listener_threw).",
    labelNames: ["kind"],
    registers,
  });

  // Both sweep gauges come from one Redis round trip per scrape (collectors run concurrently).
  const sweepHealth = coalesced(1000, deps.sweepHealth);
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

  const plans = statusPlansFor(deps.rules);
  const stuckCountSeconds = new Histogram({
    name: "watchdog_stuck_count_seconds",
    help: "Database time of the counts behind watchdog_tasks_stuck and watchdog_oldest_stuck_age_seconds, taken by this process (the deployment counts once per SWEEP_INTERVAL, on whichever replica a scrape gets there first): sum over replicas for the deployment's cost.",
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const stuckCounts = sharedStuckCounts({
    redis: deps.redis,
    prefix: deps.prefix,
    intervalMs: deps.stuckCountIntervalMs,
    onCounted: (seconds) => stuckCountSeconds.observe(seconds),
    count: () => countStuckForGauges(deps.db, plans),
  });
  // Both gauges of one scrape share one read.
  const countStuck = coalesced(STUCK_READ_CACHE_MS, async () => {
    const counts = await stuckCounts.read();
    if (counts === null) throw new Error("no stuck counts yet: another replica is counting; the next scrape has them");
    return counts;
  });
  const stuckCountedAt: Gauge = new Gauge({
    name: "watchdog_tasks_stuck_counted_timestamp_seconds",
    help: "Unix time the counts behind watchdog_tasks_stuck were taken (once per SWEEP_INTERVAL for the deployment, shared through Redis).",
    registers,
    collect: guarded("tasks_stuck_counted", () => stuckCountedAt, async () => {
      stuckCountedAt.set((await countStuck()).computedAtMs / 1000);
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
      // The entry time is cached with the count; the age is taken now, so it keeps growing between counts.
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
  for (const rule of deps.rules) if (rule.enabled) ruleStuckAfter.set({ status: statusName(rule.status), action: rule.action.kind }, rule.stuckAfterSeconds);

  const buildInfo = new Gauge({
    name: "watchdog_build_info",
    help: "Always 1; the labels say which build runs: package version, Node version, and the commit the image was built from (WATCHDOG_COMMIT, else \"unknown\").",
    labelNames: ["version", "node", "commit"],
    registers,
  });
  buildInfo.set({ version: deps.build.version, node: process.version, commit: deps.build.commit }, 1);

  // Shared state, not this process's last sweep: a hold lifted by a sweep on another replica reads 0 here too.
  const held: Gauge = new Gauge({
    name: "watchdog_tasks_held",
    help: "Stuck tasks the last completed sweep (of any replica, shared through Redis) held: acted on none of them, more stuck than the rule's hold limit. By status; 0 once a sweep anywhere finds the hold lifted.",
    labelNames: ["status"],
    registers,
    collect: guarded("tasks_held", () => held, async () => {
      const last = await deps.lastSweepHeld();
      held.reset();
      for (const status of new Set([...plans.map((p) => p.statusName), ...Object.keys(last)])) held.set({ status }, last[status]?.stuck ?? 0);
    }),
  });
  const holds = new Counter({
    name: "watchdog_sweep_holds_total",
    help: "Sweeps of this process that held a status (dry runs not counted), by status.",
    labelNames: ["status"],
    registers,
  });
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
  const statusFailures = new Counter({
    name: "watchdog_sweep_status_failures_total",
    help: "Statuses whose sweep statement failed (the sweep went on with the others), by status.",
    labelNames: ["status"],
    registers,
  });
  // Every rule has a series (0 or 1), so a dashboard shows the switch before anyone flips it.
  const pauseLabels = ["all", ...deps.rules.map((r) => statusName(r.status))];
  const paused: Gauge = new Gauge({
    name: "watchdog_paused",
    help: 'Pause switch (watchdog pause / resume): 1 while a pause is in force, by rule ("all" or a status name), else 0. Read from PostgreSQL, shared by every replica.',
    labelNames: ["rule"],
    registers,
    collect: guarded("paused", () => paused, async () => {
      const open = new Set((await deps.pauses()).map((p) => pauseRule(p.status)));
      paused.reset();
      for (const rule of new Set([...pauseLabels, ...open])) paused.set({ rule }, open.has(rule) ? 1 : 0);
    }),
  });

  const jobCounts = coalesced(QUEUE_CACHE_MS, () => Promise.all(deps.queues.map(async (q) => [q.name, await q.getJobCounts(...QUEUE_STATES)] as const)));
  const queueJobs: Gauge = new Gauge({
    name: "watchdog_queue_jobs",
    help: "Jobs in each BullMQ queue, by queue and state.",
    labelNames: ["queue", "state"],
    registers,
    collect: guarded("queue_jobs", () => queueJobs, async () => {
      const all = await jobCounts();
      queueJobs.reset();
      for (const [queue, counts] of all) for (const state of QUEUE_STATES) queueJobs.set({ queue, state }, counts[state] ?? 0);
    }),
  });

  return {
    registry,
    onBatch(plan, outcomes) {
      for (const o of outcomes) {
        if (o.count === 0) continue;
        if (plan.action.kind === "revert") reverted.inc({ from: plan.statusName, to: statusName(o.toStatus ?? plan.status) }, o.count);
        else if (plan.action.kind === "moveToHistory") movedToHistory.inc({ status: plan.statusName }, o.count);
        else flagged.inc({ status: plan.statusName }, o.count);
        if (o.escalated > 0) escalated.inc({ status: plan.statusName }, o.escalated);
      }
    },
    onSweep(result) {
      for (const status of Object.keys(result.failed)) statusFailures.inc({ status });
      if (!result.dryRun && !result.interrupted) {
        for (const status of Object.keys(result.held)) holds.inc({ status });
      }
      // What was stuck a moment ago may be fixed now: the next scrape (on any replica) counts again.
      if (!result.dryRun) {
        countStuck.invalidate();
        stuckCounts.invalidate().catch((error: unknown) => deps.logger.warn({ err: error }, "could not ask for a fresh stuck count; the gauges catch up within SWEEP_INTERVAL"));
      }
      const dryRun = String(result.dryRun);
      sweeps.inc({ outcome: result.interrupted ? "interrupted" : "completed", dry_run: dryRun });
      sweepDuration.observe({ dry_run: dryRun }, result.durationMs / 1000);
    },
    onSweepFailed(dryRun) {
      sweeps.inc({ outcome: "failed", dry_run: String(dryRun) });
    },
    reprocessRequest(outcome) {
      reprocessRequests.inc({ outcome });
    },
    reprocessJob(outcome) {
      reprocessJobs.inc({ outcome });
    },
    httpFault(kind) {
      httpFaults.inc({ kind });
    },
  };
}
