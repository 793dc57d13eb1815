// The long-running worker process: checks its services, starts, and stops on signals. First
// SIGTERM/SIGINT = graceful shutdown within SHUTDOWN_TIMEOUT (the batch in flight finishes); exit 0
// clean, 124 cut at the deadline, 1 a step failed. A second signal (not the duplicate of the first
// that npm or a process group delivers at once) forces the exit, 130. The handlers are installed
// before anything else: a signal during start-up is honoured (the worker stops as soon as it is up,
// or does not start at all).
import type { Logger } from "pino";
import { startWatchdog, type Watchdog } from "./app.js";
import type { Config } from "./platform/config/settings.js";
import type { Rule } from "./rules/rules.js";
import { checkPostgres, checkRedis } from "./platform/preflight.js";
import { ServiceError } from "./platform/service-errors.js";
import { exposureProblems } from "./platform/config/cross-checks.js";
import { ConfigError } from "./platform/config/load-config.js";
import { EXIT } from "./cli/exit-codes.js";

/**
 * Signals this soon after the first are the same request: a terminal's Ctrl-C reaches every process
 * of its foreground group, so under `npm start` the worker gets SIGINT from the terminal AND from npm,
 * which forwards it. A second signal after this is a person insisting: it forces the exit.
 */
export const SAME_SIGNAL_WINDOW_MS = 2000;

/** The graceful close, then the exit code it earned: 0 clean, 124 work cut at the deadline, 1 a step failed. */
function closeAndSetExitCode(running: Watchdog, logger: Logger): void {
  running.close().then(
    ({ failed, forced }) => {
      if (forced.length > 0) {
        logger.error({ forced, failed }, "shut down at the deadline: work in flight left to the stalled-job check");
        process.exitCode = EXIT.shutdownForced;
      } else if (failed.length > 0) {
        logger.error({ failed }, "shut down, but some steps failed");
        process.exitCode = EXIT.failed;
      } else {
        logger.info("shut down cleanly");
        process.exitCode = EXIT.ok;
      }
    },
    (error: unknown) => {
      logger.error({ err: error }, "shutdown failed");
      process.exitCode = EXIT.failed;
    },
  );
}

/**
 * A bug that escapes every handler (an exception thrown from a callback, a rejection nobody
 * handles): one fatal line through the logger, where log aggregation sees it (not a raw stack on
 * stderr), then exit 1 at once as a crash does. Nothing more runs in a state nobody planned for:
 * jobs in flight are left to BullMQ's stalled-job check, as for a kill.
 */
function exitOnCrash(logger: Logger): void {
  const crash = (what: string) => (error: unknown) => {
    try {
      logger.fatal({ err: error }, `${what}: exiting`);
    } finally {
      process.exit(EXIT.failed);
    }
  };
  process.on("uncaughtException", crash("uncaught exception"));
  process.on("unhandledRejection", crash("unhandled rejection"));
}

export async function runWorkerProcess(config: Config, rules: readonly Rule[], logger: Logger, migrationsDir: string): Promise<void> {
  let watchdog: Watchdog | undefined;
  let stopRequested = false;
  let firstSignalAt: number | undefined;
  // Armed by the first signal. The shutdown fits SHUTDOWN_TIMEOUT by its own budget
  // (src/platform/deadline.ts); this is the backstop for a handle that keeps the process alive after
  // it, which would be a bug, and for a start-up step that does not end (Redis stopped answering
  // after its check: the start waits for it), which the signal would otherwise wait on for ever.
  const armDeadline = () => {
    const deadline = setTimeout(() => {
      logger.error({ timeoutMs: config.shutdownTimeoutMs, startingUp: watchdog === undefined }, "shutdown deadline passed: forcing exit");
      process.exit(EXIT.shutdownForced);
    }, config.shutdownTimeoutMs);
    deadline.unref();
  };
  const stop = (running: Watchdog) => closeAndSetExitCode(running, logger);
  const onSignal = (signal: NodeJS.Signals) => {
    if (firstSignalAt !== undefined) {
      if (Date.now() - firstSignalAt < SAME_SIGNAL_WINDOW_MS) return;
      logger.warn({ signal }, "second signal: forcing exit");
      process.exit(EXIT.secondSignal);
    }
    firstSignalAt = Date.now();
    stopRequested = true;
    armDeadline();
    if (watchdog) {
      logger.info({ signal, timeoutMs: config.shutdownTimeoutMs }, "shutting down: finishing the batch in flight");
      stop(watchdog);
    } else {
      logger.info({ signal }, "signal during start-up: stopping as soon as the start-up step in flight ends");
    }
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  exitOnCrash(logger);

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

/** A port taken, an address not ours or a host name that does not resolve, as a line naming the variable. */
function listenError(error: unknown, config: Config): ServiceError | undefined {
  const e = error as { code?: string; port?: number; address?: string; syscall?: string; hostname?: string };
  if (e.syscall === "getaddrinfo") {
    const which = e.hostname === config.apiHost ? "API" : e.hostname === config.opsHost ? "OPS" : undefined;
    if (!which) return undefined;
    return new ServiceError(
      `${which}_HOST=${e.hostname}: cannot listen (${e.code}): set ${which}_HOST to an address of this machine, e.g. 127.0.0.1 (loopback) or 0.0.0.0 (every interface)`,
      { cause: error },
    );
  }
  if (e.code !== "EADDRINUSE" && e.code !== "EADDRNOTAVAIL" && e.code !== "EACCES") return undefined;
  const which = e.port === config.opsPort && e.port !== config.apiPort ? "OPS" : "API";
  const host = which === "OPS" ? config.opsHost : config.apiHost;
  const port = which === "OPS" ? config.opsPort : config.apiPort;
  const reason = e.code === "EADDRINUSE" ? "is in use" : e.code === "EACCES" ? "needs privileges this process lacks" : "is not an address of this machine";
  const fix = e.code === "EADDRNOTAVAIL" ? `bind another ${which}_HOST` : `stop what listens there or choose another ${which}_PORT`;
  return new ServiceError(`${which}_HOST:${which}_PORT ${host}:${port} ${reason} (${e.code}): ${fix}`, { cause: error });
}
