// What each listener serves, as plain lists of { method, path, handler } (plus the board's raw
// mount on the ops listener), and the listeners themselves: the last component to start, the first
// to close. The external API listener may face customers; the ops listener (health, metrics, Bull
// Board) stays on loopback or an internal network. A path of one listener is a 404 on the other.
import type { Component, Context } from "./platform/component.js";
import { closeSteps } from "./platform/component.js";
import type { Ops } from "./ops/start.js";
import { readLastSweepHeld } from "./sweep/last-sweep.js";
import { bullBoardMount } from "./ops/bull-board.js";
import { healthz, readinessProbes, readyz, type ReadinessProbes } from "./ops/health.js";
import { metricsHandler } from "./ops/metrics-handler.js";
import { sweepHealthHandler } from "./ops/sweep-health.js";
import { openApiHandler } from "./api/openapi/route.js";
import { listenersAt, OPENAPI_PATH, type Listeners as ListenerAddresses } from "./api/openapi/document.js";
import { readApiRoutes } from "./api/read-api/routes.js";
import { createAuthenticator } from "./api/authenticate.js";
import { ANY_VALID_TOKEN_SQL } from "./api/api-tokens-store.js";
import { restartProcessing, RESTART_PROCESSING_PATH } from "./api/restart-processing.js";
import { bulkRoutes } from "./api/bulk-reprocess.js";
import { startHttpServer } from "./api/server.js";
import { API_READINESS_PATH } from "./api/readiness-path.js";
import type { Mount, Route } from "./api/types.js";
import type { Queue } from "bullmq";
import { consoleRoutes, type ConsoleDeps } from "./ops/console/routes.js";
import { replayDeps } from "./outbox/replay.js";
import { SWEEP_QUEUE, WEBHOOK_REPLAYS_QUEUE } from "./platform/queue-names.js";
import type { SweepJobData } from "./sweep/sweep-queue.js";
import { addsForCaller } from "./platform/redis.js";

/** What the features give the routes beyond the context and ops. */
export interface RouteFeatures {
  /** The reprocess component's bulk loop: an accepted bulk starts at once on this replica. */
  nudgeBulkLoop?: () => void;
}

/** API_HOST:API_PORT — the external API. */
export function apiRoutes(
  ctx: Context,
  ops: Ops,
  listeners: () => ListenerAddresses | undefined = () => undefined,
  features: RouteFeatures = {},
  probes: ReadinessProbes = readinessProbes({ db: ctx.db, redis: ops.requestRedis }),
): Route[] {
  // One authentication for every customer route: API_TOKENS, then the api_tokens table.
  const authenticate = createAuthenticator({ tokens: ctx.config.apiTokens ?? [], db: ctx.db });
  return [
    {
      method: "PATCH",
      path: RESTART_PROCESSING_PATH,
      handler: restartProcessing({
        authenticate,
        db: ctx.db,
        queue: ops.queues.reprocess,
        redis: ops.requestRedis,
        rules: ctx.rules,
        logger: ctx.logger,
        onOutcome: ops.metrics.reprocessRequest,
      }),
    },
    ...bulkRoutes({ authenticate, db: ctx.db, rules: ctx.rules, maxRunning: ctx.config.bulkReprocessMaxRunning, ...(features.nudgeBulkLoop ? { nudge: features.nudgeBulkLoop } : {}) }),
    ...readApiRoutes({ authenticate, db: ctx.db, rules: ctx.rules }),
    { method: "GET", path: OPENAPI_PATH, handler: openApiHandler(listeners) },
    // Answered without a token, to whoever reaches this listener: never the driver's error (the database's address, user).
    { method: "GET", path: API_READINESS_PATH, handler: readyz(probes, ["postgres"], { reasons: false }) },
  ];
}

/** OPS_HOST:OPS_PORT — health, metrics, the operator console and replay endpoint, and (as a mount) Bull Board. */
export function opsRoutes(ctx: Context, ops: Ops, probes: ReadinessProbes = readinessProbes({ db: ctx.db, redis: ops.requestRedis })): Route[] {
  const held = () => readLastSweepHeld(ops.requestRedis, ctx.config.queuePrefix);
  return [
    { method: "GET", path: "/healthz", handler: healthz },
    { method: "GET", path: "/readyz", handler: readyz(probes, ["redis", "postgres"]) },
    { method: "GET", path: "/health/sweeps", handler: sweepHealthHandler({ lastSweep: ops.sweepHealth, held, pauses: ops.pauses }) },
    { method: "GET", path: "/metrics", handler: metricsHandler(ops.metrics.registry) },
    ...consoleRoutes(consoleDeps(ctx, ops)),
  ];
}

/** The operator console and the replay endpoint: the board's credentials, the producers' queues on fail-fast connections. */
function consoleDeps(ctx: Context, ops: Ops): ConsoleDeps {
  const { config } = ctx;
  // A replay's add is bounded for its caller, its connection dropped when it fails (addsForCaller).
  const replayQueue = ops.queues.all.find((q) => q.name === WEBHOOK_REPLAYS_QUEUE);
  const replay = replayDeps(config, ctx.db, replayQueue ? addsForCaller(replayQueue) : null);
  return {
    db: ctx.db,
    rules: ctx.rules,
    redis: ops.requestRedis,
    prefix: config.queuePrefix,
    escalateAfter: config.escalateAfterReverts,
    eventsQueueEnabled: config.eventsQueueEnabled,
    // The replay's read, so the Outbox section and a replay request agree on who has an endpoint.
    webhookOrganizationIds: replay.organizationIds,
    credentials: boardCredentials(config),
    actionsEnabled: config.consoleActionsEnabled,
    sweepQueue: ops.queues.all.find((q) => q.name === SWEEP_QUEUE) as Queue<SweepJobData>,
    replay,
    logger: ctx.logger,
  };
}

/** Bull Board's credentials, which the console shares; undefined = none (loopback only, enforced at start). */
const boardCredentials = (config: Context["config"]) => (config.bullBoardUser && config.bullBoardPassword ? { user: config.bullBoardUser, password: config.bullBoardPassword } : undefined);

export function opsMounts(ctx: Context, ops: Ops): Mount[] {
  const { config } = ctx;
  return [bullBoardMount({ queues: ops.queues.all, readOnly: config.bullBoardReadOnly, credentials: boardCredentials(config), redis: ops.requestRedis, logger: ctx.logger })];
}

export interface Listeners extends Component {
  readonly apiUrl: string;
  readonly opsUrl: string;
  readonly routes: { readonly api: readonly Route[]; readonly ops: readonly Route[] };
}

export async function startListeners(ctx: Context, ops: Ops, features: RouteFeatures = {}): Promise<Listeners> {
  const { config, logger } = ctx;
  let addresses: ListenerAddresses | undefined;
  // One set of readiness probes for both listeners: one PING and one SELECT 1 in flight at most.
  const probes = readinessProbes({ db: ctx.db, redis: ops.requestRedis });
  const routes = { api: apiRoutes(ctx, ops, () => addresses, features, probes), ops: opsRoutes(ctx, ops, probes) };
  await warnWhenClosed(ctx);
  const onFault = ops.metrics.httpFault;
  const api = await startHttpServer({ host: config.apiHost, port: config.apiPort, requestTimeoutMs: config.httpRequestTimeoutMs, logger, onFault, routes: routes.api });
  try {
    const opsServer = await startHttpServer({ host: config.opsHost, port: config.opsPort, requestTimeoutMs: config.httpRequestTimeoutMs, logger, onFault, routes: routes.ops, mounts: opsMounts(ctx, ops) });
    addresses = listenersAt(api.url);
    const close = () => closeSteps([["http (ops)", () => opsServer.close()], ["http (api)", () => api.close()]]);
    return { name: "http", apiUrl: api.url, opsUrl: opsServer.url, routes, close };
  } catch (error) {
    await api.close().catch(() => undefined);
    throw error;
  }
}

/** A worker whose API no token can open says so at start (a warning: the ops listener still serves). */
async function warnWhenClosed({ config, db, logger }: Context): Promise<void> {
  if ((config.apiTokens ?? []).length > 0) return;
  const [row] = await db.$queryRawUnsafe<{ any: boolean }[]>(ANY_VALID_TOKEN_SQL);
  if (row?.any) return;
  logger.warn("no API token is configured (API_TOKENS is unset and the api_tokens table has no valid token): the external API answers 401 to every request; set API_TOKENS or create one with `watchdog tokens create`");
}
