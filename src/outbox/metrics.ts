// The outbox's metrics, in the worker's registry. watchdog_events_delivered_total counts what this
// process relayed or delivered (sum across replicas). The pending gauges are read from the
// database by one statement at a time (single flight: scrapes that come while it runs share it,
// and a result younger than STATS_MAX_AGE_MS is reused) on a connection of their own, never the
// relay's: a slow scrape cannot starve deliveries. Every replica reports the same value: take max.
// A failing collector is logged, counted in watchdog_metrics_collect_errors_total and leaves its
// gauge empty.
import type pg from "pg";
import type { Logger } from "pino";
import { Counter, Gauge, type Registry } from "prom-client";
import { withTimeout } from "../platform/deadline.js";
import { outboxStats, type OutboxStats } from "./sql/outbox-stats.js";
import { DISPATCH_TARGET, QUEUE_TARGET } from "./sql/targets.js";

export type OutboxTargetKind = "queue" | "webhook";
/** delivered (queue: added to the events queue; webhook: 2xx), failed (an attempt; retried), given_up. */
export type DeliveryOutcome = "delivered" | "failed" | "given_up";

export interface OutboxMetrics {
  delivered(target: OutboxTargetKind, outcome: DeliveryOutcome, count?: number): void;
  relayError(target: OutboxTargetKind): void;
  /** Whether the last look at the events queue found it at EVENTS_QUEUE_MAX_WAITING. */
  queueCapped(capped: boolean): void;
  /** How many organizations this process delivers webhooks to (environment and database). */
  endpoints(count: number): void;
}

/** Events counted up to this many per target per collection: enough to alert on, cheap in a backlog. */
export const PENDING_COUNT_CAP = 100_000;
const COLLECT_TIMEOUT_MS = 3000;
const STATS_MAX_AGE_MS = 5000;

export function createOutboxMetrics(deps: { registry: Registry; pool: pg.Pool | null; logger: Logger; targets: readonly string[] }): OutboxMetrics {
  const registers = [deps.registry];
  const delivered = new Counter({
    name: "watchdog_events_delivered_total",
    help: "Task events relayed by this process, by target (queue, webhook) and outcome (delivered; failed: an attempt that will be retried; given_up: past WEBHOOK_RETRY_FOR).",
    labelNames: ["target", "outcome"],
    registers,
  });
  const relayErrors = new Counter({
    name: "watchdog_outbox_relay_errors_total",
    help: "Relay rounds of this process that failed (database or Redis away); the next round tries again.",
    labelNames: ["target"],
    registers,
  });
  const capped = new Gauge({
    name: "watchdog_events_queue_capped",
    help: "1 while the events queue holds EVENTS_QUEUE_MAX_WAITING jobs nobody took: the relay stopped adding to it and the events wait in the outbox (nothing is lost). Alert on it.",
    registers,
  });

  const endpointCount = new Gauge({
    name: "watchdog_webhook_endpoints",
    help: "Webhook endpoints this process delivers to (WEBHOOKS_FILE / WEBHOOKS_JSON and, with WEBHOOK_SECRETS_KEY, the active ones kept in the database as of the last refresh).",
    registers,
  });

  // The series the alerts take increase() of, at 0 from the start: increase() counts nothing for a
  // series' first sample, so one that appeared only at its first given-up batch never fired
  // WatchdogEventsGivenUp for it. Dispatch's target means webhooks are delivered here.
  for (const target of deps.targets) {
    if (target === QUEUE_TARGET) delivered.inc({ target: "queue", outcome: "delivered" }, 0);
    else if (target === DISPATCH_TARGET) for (const outcome of ["delivered", "failed", "given_up"] as const) delivered.inc({ target: "webhook", outcome }, 0);
  }

  pendingGauges(deps, pendingStats(deps.pool, deps.targets));

  return {
    delivered: (target, outcome, count = 1) => delivered.inc({ target, outcome }, count),
    relayError: (target) => relayErrors.inc({ target }),
    queueCapped: (value) => capped.set(value ? 1 : 0),
    endpoints: (count) => endpointCount.set(count),
  };
}

/** The pending stats, one statement at a time: scrapes during it share it, a result younger than STATS_MAX_AGE_MS is reused. */
function pendingStats(pool: pg.Pool | null, targets: readonly string[]): () => Promise<OutboxStats> {
  let latest: { at: number; stats: OutboxStats } | undefined;
  let inFlight: Promise<OutboxStats> | undefined;
  return () => {
    if (latest && performance.now() - latest.at < STATS_MAX_AGE_MS) return Promise.resolve(latest.stats);
    if (!pool) return Promise.resolve({ targets: [], pendingOrganizations: 0 });
    inFlight ??= outboxStats(pool, PENDING_COUNT_CAP, targets)
      .then((s) => {
        latest = { at: performance.now(), stats: s };
        return s;
      })
      .finally(() => (inFlight = undefined));
    return inFlight;
  };
}

/** The gauges filled from the pending stats at each scrape. */
function pendingGauges(deps: { registry: Registry; logger: Logger }, stats: () => Promise<OutboxStats>): void {
  const gauge = (name: string, help: string, fill: (g: Gauge, s: OutboxStats) => void, labelNames: string[] = ["target"]) => statsGauge(deps, stats, { name, help, labelNames }, fill);
  gauge(
    "watchdog_outbox_pending_events",
    `Committed task events not yet relayed, by target: queue (not yet added to the events queue) and dispatch (not yet routed to their organizations' webhooks); counted up to ${PENDING_COUNT_CAP}.`,
    (g, s) => {
      for (const t of s.targets) if (t.target !== "webhook") g.set({ target: t.target }, t.pending);
    },
  );
  gauge(
    "watchdog_outbox_oldest_pending_age_seconds",
    "Age of the oldest task event not yet relayed, by target (queue, dispatch; webhook: the longest an organization has had undelivered events); 0 when none. Alert when it grows: an endpoint failing, the relay stopped, the events queue at its cap.",
    (g, s) => {
      for (const t of s.targets) g.set({ target: t.target }, t.oldestAgeSeconds);
    },
  );
  gauge(
    "watchdog_outbox_pending_organizations",
    "Organizations with webhook events not yet delivered (being delivered, or waiting for a retry).",
    (g, s) => g.set(s.pendingOrganizations),
    [],
  );
}

/** A gauge filled from `stats` at each scrape; empty, counted and logged when the stats fail or time out. */
function statsGauge(
  deps: { registry: Registry; logger: Logger },
  stats: () => Promise<OutboxStats>,
  gauge: { name: string; help: string; labelNames: string[] },
  fill: (g: Gauge, s: OutboxStats) => void,
): Gauge {
  const { name } = gauge;
  const collectErrors = () => deps.registry.getSingleMetric("watchdog_metrics_collect_errors_total") as Counter | undefined;
  const g: Gauge = new Gauge({
    ...gauge,
    registers: [deps.registry],
    async collect() {
      try {
        const s = await withTimeout(COLLECT_TIMEOUT_MS, "outbox_pending", stats());
        g.reset();
        fill(g, s);
      } catch (error) {
        g.reset();
        collectErrors()?.inc({ collector: name.replace(/^watchdog_/, "") });
        deps.logger.warn({ err: error, collector: name }, "metrics collector failed");
      }
    },
  });
  return g;
}
