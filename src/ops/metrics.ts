// The Prometheus metrics of one worker process, in their own Registry. Counters and the sweep
// histogram are per process (sum them across replicas); the gauges computed at scrape time
// (stuck tasks, held tasks, queue depths, last sweep, overdue, pauses) read shared state, so every
// replica reports the same value (take max, not sum); with CELL set every series carries a `cell` label. A collector that fails is logged and counted, and its
// metric is left empty for that scrape (platform/collect.ts): a scrape never fails because
// PostgreSQL hiccupped. Each feature declares its own metrics (sweep/sweep-metrics.ts,
// outbox/metrics.ts); this file holds the registry and what belongs to no one feature.
import type { Queue } from "bullmq";
import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";
import { guardedCollectors, type Guarded } from "../platform/collect.js";
import { coalesced } from "../platform/coalesce.js";
import { sweepMetrics, type SweepMetrics, type SweepMetricsDeps } from "../sweep/sweep-metrics.js";
import type { ReprocessJobOutcome } from "../reprocess/reprocess-worker.js";

/**
 * Queue counts are not kept after they settle (a scrape shows the state of its moment), only
 * shared while in flight: concurrent scrapes cost Redis one round of counts.
 */
const QUEUE_CACHE_MS = 0;

export const QUEUE_STATES = ["waiting", "active", "delayed", "prioritized", "waiting-children", "completed", "failed"] as const;

/** Outcomes of PATCH …/restartprocessing calls; the jobs' own are ReprocessJobOutcome (reprocess/reprocess-worker.ts). */
export type ReprocessRequestOutcome = "accepted" | "not_found" | "bad_request" | "conflict" | "unauthorized" | "unavailable" | "error";

/** What the sweep's metrics read (sweep/sweep-metrics.ts), plus the queues and the build; the registry is made here. */
export interface MetricsDeps extends Omit<SweepMetricsDeps, "registers" | "guarded"> {
  queues: readonly Queue[];
  /** For watchdog_build_info. */
  build: BuildInfo;
}

export interface BuildInfo {
  version: string;
  commit: string;
  /** CELL: the `cell` label of every metric, when set. */
  cell?: string | undefined;
}

export interface Metrics extends SweepMetrics {
  registry: Registry;
  reprocessRequest(outcome: ReprocessRequestOutcome): void;
  /** For createReprocessWorker's onOutcome: one count per delivery of a reprocess job. */
  reprocessJob(outcome: ReprocessJobOutcome): void;
  /** The HTTP server's onFault: a request refused before a handler, or a handler that threw. */
  httpFault(kind: string): void;
  /** For startBulkLoop's onSlice: one count per slice by what it did, and the items it processed. */
  bulkReprocessSlice(result: string, items: number): void;
}

export function createMetrics(deps: MetricsDeps): Metrics {
  const { queues, build, ...sweepDeps } = deps;
  const registry = processRegistry(build);
  const registers = [registry];
  const guarded = guardedCollectors(registry, deps.logger);
  // Declared in this order, so /metrics lists them in it: the sweep's, then the rest.
  const sweep = sweepMetrics({ ...sweepDeps, registers, guarded });
  const reprocess = reprocessCounters(registers);
  const bulk = bulkCounters(registers);
  const http = httpFaultCounter(registers);
  buildInfoGauge(registers, build);
  queueJobsGauge(registers, guarded, queues);
  return { registry, ...sweep, ...reprocess, ...bulk, ...http };
}

/** This process's registry, with the default (process and Node) metrics. */
function processRegistry(build: BuildInfo): Registry {
  const registry = new Registry();
  // Before any metric is registered: every series of this process carries its cell.
  if (build.cell !== undefined) registry.setDefaultLabels({ cell: build.cell });
  collectDefaultMetrics({ register: registry });
  // prom-client names these gauges `_total`, which Prometheus reserves for counters (`promtool check
  // metrics` refuses them); each is the sum of its labelled twin (nodejs_active_handles{type}, …).
  for (const name of ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"]) registry.removeSingleMetric(name);
  return registry;
}

const REPROCESS_JOB_OUTCOMES: readonly ReprocessJobOutcome[] = ["applied", "already_applied", "bad_request", "not_found", "conflict", "retried", "failed"];

/** PATCH …/restartprocessing calls and the reprocess jobs they enqueue, by outcome. */
function reprocessCounters(registers: Registry[]): Pick<Metrics, "reprocessRequest" | "reprocessJob"> {
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
  // At 0 from the start: increase() counts nothing for a series' first sample, so one that appeared
  // only at its first failure never fired WatchdogReprocessFailures for it.
  for (const outcome of REPROCESS_JOB_OUTCOMES) reprocessJobs.inc({ outcome }, 0);
  return {
    reprocessRequest: (outcome) => reprocessRequests.inc({ outcome }),
    reprocessJob: (outcome) => reprocessJobs.inc({ outcome }),
  };
}

/** The bulk reprocess loop's slices and the items they processed. */
function bulkCounters(registers: Registry[]): Pick<Metrics, "bulkReprocessSlice"> {
  const bulkSlices = new Counter({
    name: "watchdog_bulk_reprocess_slices_total",
    help: "Slices of the bulk reprocess loop, by result: processed, paced (the organization's pace allowed nothing), busy (another replica had it), idle, cancelled (rolled back), failed (rolled back; retried next tick).",
    labelNames: ["result"],
    registers,
  });
  const bulkItems = new Counter({
    name: "watchdog_bulk_reprocess_items_total",
    help: "Items of bulk reprocesses processed (applied, refused or not found) by this process.",
    registers,
  });
  return {
    bulkReprocessSlice: (result, items) => {
      bulkSlices.inc({ result });
      if (items > 0) bulkItems.inc(items);
    },
  };
}

function httpFaultCounter(registers: Registry[]): Pick<Metrics, "httpFault"> {
  const httpFaults = new Counter({
    name: "watchdog_http_faults_total",
    help: "HTTP requests that never reached a handler or whose handler threw, by kind (bad_target, client_error, request_timeout: answered 408, handler_failed, listener_threw, database_unavailable: answered 503 because PostgreSQL was unreachable or frozen).",
    labelNames: ["kind"],
    registers,
  });
  return { httpFault: (kind) => httpFaults.inc({ kind }) };
}

function buildInfoGauge(registers: Registry[], build: BuildInfo): void {
  const buildInfo = new Gauge({
    name: "watchdog_build_info",
    help: "Always 1; the labels say which build runs: package version, Node version, and the commit the image was built from (WATCHDOG_COMMIT, else \"unknown\").",
    labelNames: ["version", "node", "commit"],
    registers,
  });
  buildInfo.set({ version: build.version, node: process.version, commit: build.commit }, 1);
}

/** watchdog_queue_jobs: every queue's job counts, read from Redis at scrape time. */
function queueJobsGauge(registers: Registry[], guarded: Guarded, queues: readonly Queue[]): void {
  const jobCounts = coalesced(QUEUE_CACHE_MS, () => Promise.all(queues.map(async (q) => [q.name, await q.getJobCounts(...QUEUE_STATES)] as const)));
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
}
