// What each listener serves, as plain lists of { method, path, handler } (plus the board's raw
// mount on the ops listener). The external API listener may face customers; the ops listener
// (health, metrics, Bull Board) stays on loopback or an internal network. A path of one listener
// is a 404 on the other.
import type { Queue } from "bullmq";
import type { Logger } from "pino";
import type { Config } from "../config/settings.js";
import type { Db } from "../db/client.js";
import type { Pause } from "../domain/pause.js";
import type { Rule } from "../domain/rules.js";
import { readLastSweepHeld, type SweepHealth } from "../metrics/last-sweep.js";
import type { Metrics } from "../metrics/metrics.js";
import type { ReprocessJobData } from "../queues/reprocess-queue.js";
import type { RedisConnection } from "../queues/redis.js";
import { bullBoardMount } from "./bull-board.js";
import { healthz, readyz } from "./health.js";
import { metricsHandler } from "./metrics.js";
import { OPENAPI_PATH } from "./openapi/document.js";
import { openApiHandler } from "./openapi/route.js";
import { readApiRoutes } from "./read-api/routes.js";
import { restartProcessing, RESTART_PROCESSING_PATH } from "./restart-processing.js";
import { sweepHealthHandler } from "./sweep-health.js";
import type { Mount, Route } from "./types.js";
import { consoleRoutes } from "../ops/console/routes.js";
import type { SweepJobData } from "../queues/sweep-queue.js";
import { WEBHOOK_JOB_ATTEMPTS } from "../events/webhook-worker.js";

export interface RouteDeps {
  config: Config;
  db: Db;
  rules: readonly Rule[];
  /** The fail-fast connection (purpose "request"): nothing served over HTTP waits for Redis to return. */
  redis: RedisConnection;
  /** task-reprocess on that connection. */
  reprocessQueue: Queue<ReprocessJobData>;
  /** Every queue, on that connection, for the board. */
  queues: readonly Queue[];
  sweepHealth: () => Promise<SweepHealth>;
  /** The pauses in force now (PostgreSQL). */
  pauses: () => Promise<readonly Pause[]>;
  metrics: Metrics;
  logger: Logger;
  /** The operator console's queues and targets (on the fail-fast connection). */
  console: {
    sweepQueue: Queue<SweepJobData>;
    webhooksQueue: Queue | null;
    webhookOrganizationIds: readonly number[];
    relayTargets: readonly { target: string; organizationId: number | null }[];
  };
}

/** API_HOST:API_PORT — the external API. */
export function apiRoutes(deps: RouteDeps): Route[] {
  return [
    {
      method: "PATCH",
      path: RESTART_PROCESSING_PATH,
      handler: restartProcessing({
        tokens: deps.config.apiTokens ?? [],
        db: deps.db,
        queue: deps.reprocessQueue,
        redis: deps.redis,
        rules: deps.rules,
        logger: deps.logger,
        onOutcome: deps.metrics.reprocessRequest,
      }),
    },
    ...readApiRoutes({ tokens: deps.config.apiTokens ?? [], db: deps.db, rules: deps.rules }),
    { method: "GET", path: OPENAPI_PATH, handler: openApiHandler() },
  ];
}

/** OPS_HOST:OPS_PORT — health, metrics, the operator console, the replay endpoint and (as a mount) Bull Board. */
export function opsRoutes(deps: RouteDeps): Route[] {
  return [
    { method: "GET", path: "/healthz", handler: healthz },
    { method: "GET", path: "/readyz", handler: readyz({ db: deps.db, redis: deps.redis }) },
    { method: "GET", path: "/health/sweeps", handler: sweepHealthHandler({ lastSweep: deps.sweepHealth, held: () => readLastSweepHeld(deps.redis, deps.config.queuePrefix), pauses: deps.pauses }) },
    { method: "GET", path: "/metrics", handler: metricsHandler(deps.metrics.registry) },
    ...consoleRoutes({
      db: deps.db,
      rules: deps.rules,
      redis: deps.redis,
      prefix: deps.config.queuePrefix,
      escalateAfter: deps.config.escalateAfterReverts,
      targets: deps.console.relayTargets,
      credentials: boardCredentials(deps.config),
      actionsEnabled: deps.config.consoleActionsEnabled,
      sweepQueue: deps.console.sweepQueue,
      webhooksQueue: deps.console.webhooksQueue,
      webhookOrganizationIds: deps.console.webhookOrganizationIds,
      replayAttempts: WEBHOOK_JOB_ATTEMPTS,
      logger: deps.logger,
    }),
  ];
}

/** Bull Board's credentials, which the console shares; undefined = none (loopback only). */
const boardCredentials = (config: Config) => (config.bullBoardUser && config.bullBoardPassword ? { user: config.bullBoardUser, password: config.bullBoardPassword } : undefined);

export function opsMounts(deps: RouteDeps): Mount[] {
  const { config } = deps;
  return [bullBoardMount({ queues: deps.queues, readOnly: config.bullBoardReadOnly, credentials: boardCredentials(config), redis: deps.redis, logger: deps.logger })];
}
