import type { Registry } from "prom-client";
import type { Handler } from "../api/types.js";

/** GET /metrics: the Prometheus text exposition of `registry`. */
export function metricsHandler(registry: Registry): Handler {
  return async () => ({ status: 200, headers: { "content-type": registry.contentType }, body: await registry.metrics() });
}
