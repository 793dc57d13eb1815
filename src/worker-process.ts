// The long-running worker process: first SIGTERM/SIGINT = graceful shutdown within
// SHUTDOWN_TIMEOUT (the batch in flight finishes), second = forced exit.
import type { Logger } from "pino";
import { startWatchdog } from "./app.js";
import type { Config } from "./config/settings.js";
import type { Rule } from "./domain/rules.js";

export async function runWorkerProcess(config: Config, rules: readonly Rule[], logger: Logger): Promise<void> {
  const watchdog = await startWatchdog(config, rules, logger);
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, "second signal: forcing exit");
      process.exit(130);
    }
    logger.info({ signal, timeoutMs: config.shutdownTimeoutMs }, "shutting down: finishing the batch in flight");
    const deadline = setTimeout(() => {
      logger.error({ timeoutMs: config.shutdownTimeoutMs }, "shutdown deadline passed: forcing exit");
      process.exit(1);
    }, config.shutdownTimeoutMs);
    deadline.unref();
    watchdog.close().then(
      () => {
        clearTimeout(deadline);
        logger.info("shut down cleanly");
        process.exitCode = 0;
      },
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exitCode = 1;
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}
