// Preload (`--import`) of test/support/traced-worker.ts: tracing started the way src/platform/tracing/preload.ts
// starts it, before the application's modules load, but into an in-memory exporter the child reads.
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { startTracing } from "../../src/platform/tracing/start.js";

export const exporter = new InMemorySpanExporter();
await startTracing({ exporter });
