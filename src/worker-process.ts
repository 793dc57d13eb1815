// The long-running worker process: checks its services, starts, and stops on signals. First
// SIGTERM/SIGINT = graceful shutdown within SHUTDOWN_TIMEOUT (the batch in flight finishes),
// second = forced exit. The handlers are installed before anything else: a signal during start-up
// is honoured (the worker stops as soon as it is up, or does not start at all).
import type { Logger } from "pino";
import { startWatchdog, type Watchdog } from "./app.js";
import type { Config } from "./platform/config/settings.js";
import type { Rule } from "./rules/rules.js";
import { checkPostgres, checkRedis } from "./platform/preflight.js";
import { ServiceError } from "./platform/service-errors.js";
import { exposureProblems } from "./platform/config/cross-checks.js";
import { ConfigError } from "./platform/config/load-config.js";

export async function runWorkerProcess(config: Config, rules: readonly Rule[], logger: Logger, migrationsDir: string): Promise<void> {
  let watchdog: Watchdog | undefined;
  let stopRequested = false;
  let signals = 0;
  const stop = (running: Watchdog) => {
    const deadline = setTimeout(() => {
      logger.error({ timeoutMs: config.shutdownTimeoutMs }, "shutdown deadline passed: forcing exit");
      process.exit(1);
    }, config.shutdownTimeoutMs);
    deadline.unref();
    running.close().then(
      ({ failed }) => {
        clearTimeout(deadline);
        if (failed.length === 0) {
          logger.info("shut down cleanly");
          process.exitCode = 0;
        } else {
          logger.error({ failed }, "shut down, but some steps failed");
          process.exitCode = 1;
        }
      },
      (error: unknown) => {
        clearTimeout(deadline);
        logger.error({ err: error }, "shutdown failed");
        process.exitCode = 1;
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, "second signal: forcing exit");
      process.exit(130);
    }
    stopRequested = true;
    if (watchdog) {
      logger.info({ signal, timeoutMs: config.shutdownTimeoutMs }, "shutting down: finishing the batch in flight");
      stop(watchdog);
    } else {
      logger.info({ signal }, "signal during start-up: stopping as soon as the start-up step in flight ends");
    }
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);

  // The configuration's own verdict first: a mistake there is what the operator must read, also
  // while Redis or PostgreSQL is down.
  const exposure = exposureProblems(config);
  if (exposure.length > 0) throw new ConfigError(exposure);
  // Bounded checks next: a missing or unprepared service is one line and exit code 1, within seconds.
  logger.info("start-up: checking Redis, PostgreSQL and the schema");
  await checkRedis(config);
  await checkPostgres(config.databaseUrl, migrationsDir);
  if (stopRequested) {
    logger.info({ beforeStart: true }, "shut down cleanly");
    return;
  }
  try {
    watchdog = await startWatchdog(config, rules, logger);
  } catch (error) {
    throw listenError(error, config) ?? error;
  }
  if (stopRequested) {
    logger.info("shutting down: a signal came during start-up");
    stop(watchdog);
  }
}

/** A port taken or an address not ours, as a line naming the variable. */
function listenError(error: unknown, config: Config): ServiceError | undefined {
  const e = error as { code?: string; port?: number; address?: string };
  if (e.code !== "EADDRINUSE" && e.code !== "EADDRNOTAVAIL" && e.code !== "EACCES") return undefined;
  const which = e.port === config.opsPort && e.port !== config.apiPort ? "OPS" : "API";
  const host = which === "OPS" ? config.opsHost : config.apiHost;
  const port = which === "OPS" ? config.opsPort : config.apiPort;
  const reason = e.code === "EADDRINUSE" ? "is in use" : e.code === "EACCES" ? "needs privileges this process lacks" : "is not an address of this machine";
  const fix = e.code === "EADDRNOTAVAIL" ? `bind another ${which}_HOST` : `stop what listens there or choose another ${which}_PORT`;
  return new ServiceError(`${which}_HOST:${which}_PORT ${host}:${port} ${reason} (${e.code}): ${fix}`, { cause: error });
}
