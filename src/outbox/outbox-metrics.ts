// The outbox's metrics, in the worker's registry. watchdog_events_delivered_total counts what this
// process relayed or delivered (sum across replicas); the two pending gauges are read from the
// database at scrape time (every replica reports the same value: take max). A failing collector is
// logged, counted in watchdog_metrics_collect_errors_total and leaves its gauge empty.
import type pg from "pg";
import type { Logger } from "pino";
import { Counter, Gauge, type Registry } from "prom-client";
import { outboxPending, type PendingStats } from "./sql/outbox-cursors.js";
import { withTimeout } from "../platform/deadline.js";

export type OutboxTargetKind = "queue" | "webhook";
/** delivered (queue: added to the events queue; webhook: 2xx), failed (an attempt; retried), given_up. */
export type DeliveryOutcome = "delivered" | "failed" | "given_up";

export interface OutboxMetrics {
  delivered(target: OutboxTargetKind, outcome: DeliveryOutcome, count?: number): void;
  relayError(target: OutboxTargetKind): void;
}

/** Counted up to this many per target per scrape: enough to alert on, cheap when a backlog is huge. */
const PENDING_COUNT_CAP = 100_000;
const COLLECT_TIMEOUT_MS = 3000;

export function createOutboxMetrics(deps: {
  registry: Registry;
  pool: pg.Pool;
  targets: readonly { target: string; organizationId: number | null }[];
  logger: Logger;
}): OutboxMetrics {
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

  let cached: { at: number; value: Promise<PendingStats[]> } | undefined;
  const stats = () => {
    if (!cached || performance.now() - cached.at > 1000) {
      const entry = { at: performance.now(), value: outboxPending(deps.pool, deps.targets, PENDING_COUNT_CAP) };
      cached = entry;
      entry.value.catch(() => (cached === entry ? (cached = undefined) : undefined));
    }
    return cached.value;
  };
  const byKind = async () => {
    const kinds = new Map<OutboxTargetKind, { pending: number; oldest: number }>();
    for (const s of await withTimeout(COLLECT_TIMEOUT_MS, "outbox_pending", stats())) {
      const kind: OutboxTargetKind = s.target === "queue" ? "queue" : "webhook";
      const k = kinds.get(kind) ?? { pending: 0, oldest: 0 };
      kinds.set(kind, { pending: k.pending + s.pending, oldest: Math.max(k.oldest, s.oldestAgeSeconds) });
    }
    return kinds;
  };
  const collectErrors = () => deps.registry.getSingleMetric("watchdog_metrics_collect_errors_total") as Counter | undefined;
  const gauge = (name: string, help: string, pick: (v: { pending: number; oldest: number }) => number) => {
    const g: Gauge = new Gauge({
      name,
      help,
      labelNames: ["target"],
      registers,
      async collect() {
        try {
          const kinds = await byKind();
          g.reset();
          for (const [target, v] of kinds) g.set({ target }, pick(v));
        } catch (error) {
          g.reset();
          collectErrors()?.inc({ collector: name.replace(/^watchdog_/, "") });
          deps.logger.warn({ err: error, collector: name }, "metrics collector failed");
        }
      },
    });
    return g;
  };
  gauge("watchdog_outbox_pending_events", `Committed task events not yet relayed, by target (counted up to ${PENDING_COUNT_CAP} per queue or organization).`, (v) => v.pending);
  gauge("watchdog_outbox_oldest_pending_age_seconds", "Age of the oldest task event not yet relayed, by target; 0 when none. Alert when it grows: a webhook endpoint failing, or the relay stopped.", (v) => v.oldest);

  return {
    delivered: (target, outcome, count = 1) => delivered.inc({ target, outcome }, count),
    relayError: (target) => relayErrors.inc({ target }),
  };
}
