// OpenTelemetry tracing for the worker: the HTTP server (instrumentation-http), PostgreSQL statements
// (instrumentation-pg, under Prisma's driver adapter) and both BullMQ queues (bullmq-otel, wired in
// src/platform/queue-telemetry.ts), so one trace runs from PATCH restartprocessing through the job to the
// statement that writes its REPROCESSED event. Instrumentations patch modules as they load: this
// must run before the application's modules are imported — src/platform/tracing/preload.ts does it as
// `node --import`. Only node:module is imported statically; everything else after the loader hook.
import { register } from "node:module";
import type { SpanExporter } from "@opentelemetry/sdk-trace-base";
import { markTracingStarted, tracesExporterFrom } from "./switch.js";

export interface Tracing {
  /** Ends tracing: pending spans are exported first. */
  shutdown(): Promise<void>;
}

/**
 * Starts tracing when the OTEL_* variables in `env` ask for it (or `exporter` is given: its spans are
 * exported one by one, as they end); undefined when tracing stays off.
 */
export async function startTracing(options: { env?: NodeJS.ProcessEnv; exporter?: SpanExporter } = {}): Promise<Tracing | undefined> {
  const env = options.env ?? process.env;
  const kind = options.exporter ? "given" : tracesExporterFrom(env);
  if (kind === undefined) return undefined;

  // ESM imports (node:http, pg under @prisma/adapter-pg) are patched through import-in-the-middle's hook.
  register("@opentelemetry/instrumentation/hook.mjs", import.meta.url);
  const [{ NodeTracerProvider }, { BatchSpanProcessor, SimpleSpanProcessor, ConsoleSpanExporter }, { registerInstrumentations }, { HttpInstrumentation }, { PgInstrumentation }, resources] = await Promise.all([
    import("@opentelemetry/sdk-trace-node"),
    import("@opentelemetry/sdk-trace-base"),
    import("@opentelemetry/instrumentation"),
    import("@opentelemetry/instrumentation-http"),
    import("@opentelemetry/instrumentation-pg"),
    import("@opentelemetry/resources"),
  ]);
  let processor;
  if (options.exporter) processor = new SimpleSpanProcessor(options.exporter);
  else if (kind === "console") processor = new SimpleSpanProcessor(new ConsoleSpanExporter());
  else {
    // OTLP over HTTP; endpoint, headers and timeouts come from the OTEL_EXPORTER_OTLP_* variables.
    const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-http");
    processor = new BatchSpanProcessor(new OTLPTraceExporter());
  }
  const resource = resources
    .resourceFromAttributes({ "service.name": env.OTEL_SERVICE_NAME?.trim() || "task-watchdog" })
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));
  const provider = new NodeTracerProvider({ resource, spanProcessors: [processor] });
  provider.register();
  markTracingStarted();
  registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      // Health checks and scrapes every few seconds would drown the traces worth reading.
      new HttpInstrumentation({ ignoreIncomingRequestHook: (req) => /^\/(healthz|readyz|api\/readyz|metrics)\b/.test(req.url ?? "") }),
      // Only statements inside a trace (a request, a job): not the pool's idle chatter.
      new PgInstrumentation({ requireParentSpan: true }),
    ],
  });
  return { shutdown: () => provider.shutdown() };
}
