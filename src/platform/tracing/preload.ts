// `node --max-semi-space-size=8 --import ./dist/platform/tracing/preload.js dist/cli/main.js start` (the image's entry point does
// this): tracing starts before the application's modules load, when OTEL_* asks for it, and ends
// (exporting what is pending) when the process exits. Without OTEL_* it does nothing.
import { startTracing } from "./start.js";

const tracing = await startTracing();
if (tracing) {
  for (const signal of ["SIGTERM", "SIGINT"] as const) process.once(signal, () => void tracing.shutdown().catch(() => undefined));
  process.once("beforeExit", () => void tracing.shutdown().catch(() => undefined));
}
