// Scrape-time collectors that cannot fail a scrape: each is bounded, and on failure it is logged,
// counted (watchdog_metrics_collect_errors_total{collector}) and its gauge is left empty.
import type { Logger } from "pino";
import { Counter, type Gauge, type Registry } from "prom-client";
import { withTimeout } from "./deadline.js";

/** A collector slower than this is reported as failed, so a scrape answers while Redis or Postgres is away. */
const COLLECT_TIMEOUT_MS = 3000;

/**
 * Wraps a scrape-time collector; on failure it logs, counts and runs `onFailure` (by default the
 * gauge is reset: a labelled gauge then has no samples, an unlabelled one reads 0).
 */
export type Guarded = (name: string, gauge: () => Gauge, collect: () => Promise<void>, onFailure?: () => void) => () => Promise<void>;

export function guardedCollectors(registry: Registry, logger: Logger): Guarded {
  const collectErrors = new Counter({
    name: "watchdog_metrics_collect_errors_total",
    help: "Scrape-time collectors that failed (their metric is empty for that scrape), by collector.",
    labelNames: ["collector"],
    registers: [registry],
  });
  return (name, gauge, collect, onFailure = () => gauge().reset()) =>
    async () => {
      try {
        await withTimeout(COLLECT_TIMEOUT_MS, name, collect());
      } catch (error) {
        onFailure();
        collectErrors.inc({ collector: name });
        logger.warn({ err: error, collector: name }, "metrics collector failed");
      }
    };
}
