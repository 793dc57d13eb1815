// Whether tracing is on, from the standard OpenTelemetry variables only (no setting of our own):
// on when OTEL_TRACES_EXPORTER names an exporter or an OTLP endpoint is set; OTEL_SDK_DISABLED=true
// or OTEL_TRACES_EXPORTER=none keeps it off. Off by default.

export type TracesExporter = "otlp" | "console";

export function tracesExporterFrom(env: NodeJS.ProcessEnv): TracesExporter | undefined {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === "true") return undefined;
  const named = env.OTEL_TRACES_EXPORTER?.split(",").map((e) => e.trim().toLowerCase()).filter(Boolean) ?? [];
  if (named.includes("none")) return undefined;
  if (named.includes("console")) return "console";
  if (named.includes("otlp")) return "otlp";
  return env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ? "otlp" : undefined;
}

let started = false;

/** True once startTracing started a tracer provider in this process (the queues then add BullMQ's telemetry). */
export const tracingStarted = () => started;
export const markTracingStarted = () => void (started = true);
