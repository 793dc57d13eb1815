// The worker's metrics registry as a test builds it: createMetrics over the test's database, rules and
// Redis, with healthy defaults for what the test does not look at; and one value read back from it.
import type { Registry } from "prom-client";
import { createMetrics, type Metrics, type MetricsDeps } from "../../src/ops/metrics.js";
import { createLogger } from "../../src/platform/logger.js";

export function testMetrics(deps: Pick<MetricsDeps, "db" | "rules" | "redis" | "prefix"> & Partial<MetricsDeps>): Metrics {
  return createMetrics({
    queues: [],
    sweepHealth: async () => ({ overdue: false, lastCompletedAtMs: null, secondsSinceLastCompleted: null, overdueAfterSeconds: 180 }),
    lastSweepHeld: async () => ({}),
    stuckCountIntervalMs: 60_000,
    logger: createLogger({ level: "silent" }),
    build: { version: "test", commit: "test" },
    pauses: async () => [],
    ...deps,
  });
}

/** A counter's or gauge's value for these labels, or a histogram's observation count; undefined when absent. */
export async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (metric?.values ?? []) as { value: number; labels: Record<string, string | number>; metricName?: string }[];
  return values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l) && (String(metric?.type) === "histogram" ? v.metricName === `${name}_count` : true))?.value;
}
