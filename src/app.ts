// The composition root: the components in start order over one small context. startWatchdog()
// runs the whole worker in-process (tests start and stop it); worker-process.ts adds signals and
// exit codes. Shutdown is the list in reverse, all of it within one SHUTDOWN_TIMEOUT.
import type { Logger } from "pino";
import type { Config } from "./platform/config/settings.js";
import { ConfigError } from "./platform/config/load-config.js";
import { exposureProblems } from "./platform/config/cross-checks.js";
import { closeInReverse, startPlatform, type Component, type ShutdownOutcome } from "./platform/component.js";
import { shutdownBudget } from "./platform/deadline.js";
import type { Db } from "./platform/db/client.js";
import type { Rule } from "./rules/rules.js";
import { startOps } from "./ops/start.js";
import { startOutbox } from "./outbox/start.js";
import { startSweep } from "./sweep/start.js";
import { startReprocess } from "./reprocess/start.js";
import { startListeners } from "./routes.js";
import type { Route } from "./api/types.js";

export interface Watchdog {
  /** The external API listener (API_HOST:API_PORT). */
  readonly apiUrl: string;
  /** The ops listener (OPS_HOST:OPS_PORT): health, metrics, Bull Board. */
  readonly opsUrl: string;
  /** What each listener serves (the board is a mount of the ops listener, not listed). */
  readonly routes: { readonly api: readonly Route[]; readonly ops: readonly Route[] };
  readonly db: Db;
  /**
   * Graceful stop within SHUTDOWN_TIMEOUT: every worker stops taking jobs at once, the batch and
   * requests in flight finish (until the drain deadline), listeners and connections close without
   * waiting on one that is not connected. Safe to call twice. Resolves with what failed or was cut.
   */
  close(): Promise<ShutdownReport>;
}

export type ShutdownReport = ShutdownOutcome;

export async function startWatchdog(config: Config, rules: readonly Rule[], logger: Logger): Promise<Watchdog> {
  // Refuse before connecting anywhere: nothing to undo.
  const exposure = exposureProblems(config);
  if (exposure.length > 0) throw new ConfigError(exposure);
  const shutdown = new AbortController();
  const started: Component[] = [];
  const add = <C extends Component>(component: C): C => (started.push(component), component);
  const close = async (): Promise<ShutdownReport> => {
    shutdown.abort();
    return closeInReverse(started, shutdownBudget(config.shutdownTimeoutMs), logger);
  };
  try {
    const ctx = add(startPlatform(config, rules, logger, shutdown.signal)).context;
    const ops = add(await startOps(ctx));
    const outbox = add(await startOutbox(ctx, ops.metrics));
    add(await startSweep(ctx, ops.metrics));
    const reprocess = add(startReprocess(ctx, ops.metrics));
    const http = add(await startListeners(ctx, ops, { nudgeBulkLoop: reprocess.nudgeBulkLoop }));
    logger.info(
      {
        api: http.apiUrl,
        ops: http.opsUrl,
        sweepIntervalMs: config.sweepIntervalMs,
        sweepBatchSize: config.sweepBatchSize,
        scheduled: config.sweepScheduleEnabled,
        rules: rules.length,
        bullBoard: { auth: config.bullBoardUser ? "basic" : "none (loopback only)", readOnly: config.bullBoardReadOnly },
        apiTokenCount: (config.apiTokens ?? []).length,
        events: { queue: config.eventsQueueEnabled, webhookOrganizations: outbox.webhookOrganizations() },
      },
      "watchdog started",
    );
    let closed: Promise<ShutdownReport> | undefined;
    return { apiUrl: http.apiUrl, opsUrl: http.opsUrl, routes: http.routes, db: ctx.db, close: () => (closed ??= close()) };
  } catch (error) {
    await close();
    throw error;
  }
}
