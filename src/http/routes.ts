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
import { bulkRoutes } from "../reprocess/bulk-http.js";
import type { Mount, Route } from "./types.js";

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
  /** The bulk reprocess loop of this replica: an accepted bulk starts at once. */
  nudgeBulkLoop?: () => void;
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
    ...bulkRoutes({ tokens: deps.config.apiTokens ?? [], db: deps.db, rules: deps.rules, ...(deps.nudgeBulkLoop ? { nudge: deps.nudgeBulkLoop } : {}) }),
    ...readApiRoutes({ tokens: deps.config.apiTokens ?? [], db: deps.db, rules: deps.rules }),
    { method: "GET", path: OPENAPI_PATH, handler: openApiHandler() },
  ];
}

/** OPS_HOST:OPS_PORT — health, metrics and (as a mount) Bull Board. */
export function opsRoutes(deps: RouteDeps): Route[] {
  return [
    { method: "GET", path: "/healthz", handler: healthz },
    { method: "GET", path: "/readyz", handler: readyz({ db: deps.db, redis: deps.redis }) },
    { method: "GET", path: "/health/sweeps", handler: sweepHealthHandler({ lastSweep: deps.sweepHealth, held: () => readLastSweepHeld(deps.redis, deps.config.queuePrefix), pauses: deps.pauses }) },
    { method: "GET", path: "/metrics", handler: metricsHandler(deps.metrics.registry) },
  ];
}

export function opsMounts(deps: RouteDeps): Mount[] {
  const { config } = deps;
  const credentials = config.bullBoardUser && config.bullBoardPassword ? { user: config.bullBoardUser, password: config.bullBoardPassword } : undefined;
  return [bullBoardMount({ queues: deps.queues, readOnly: config.bullBoardReadOnly, credentials, redis: deps.redis, logger: deps.logger })];
}
