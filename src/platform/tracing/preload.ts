// `node --max-semi-space-size=8 --import ./dist/platform/tracing/preload.js dist/cli/main.js start` (the image's entry point does
// this): tracing starts before the application's modules load, when OTEL_* asks for it, and ends
// (exporting what is pending) when the process exits. Without OTEL_* it does nothing.
import { settlesWithin } from "../deadline.js";
import { startTracing } from "./start.js";

/** How long a signal waits for the pending spans before it takes its course. */
const EXPORT_ON_SIGNAL_MS = 2000;

const tracing = await startTracing();
if (tracing) {
  // A listener of ours would take away the signal's default action (ending the process) from every
  // command that has none of its own: the first Ctrl-C or SIGTERM would be ignored. So: when the
  // application handles the signal itself (the worker's graceful shutdown), it ends by `beforeExit`
  // below; otherwise the spans are exported (bounded) and the signal is raised again, to do what it
  // would have done without tracing.
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => {
      if (process.listenerCount(signal) > 0) return;
      void settlesWithin(tracing.shutdown(), EXPORT_ON_SIGNAL_MS).finally(() => process.kill(process.pid, signal));
    });
  }
  process.once("beforeExit", () => void tracing.shutdown().catch(() => undefined));
}
