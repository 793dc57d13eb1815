// The ops component's state: the queues as the board and the queue-depth metric see them, the
// sweep health (Redis clock, shared by replicas), the pause state, and the metrics registry every
// other feature reports into. Its listener starts last, with the API's (src/routes.ts).
import type { Queue } from "bullmq";
import type { Component, Context } from "../platform/component.js";
import type { RedisConnection } from "../platform/redis.js";
import { closeSteps } from "../platform/component.js";
import { coalesced } from "../platform/coalesce.js";
import { createSweepQueue } from "../sweep/sweep-queue.js";
import { createReprocessQueue, type ReprocessJobData } from "../reprocess/reprocess-queue.js";
import { createEventsQueue } from "../outbox/queues.js";
import { createReplayQueue } from "../outbox/replay.js";
import { webhooksPossible } from "../outbox/webhook-config.js";
import { readLastSweepHeld, redisNowMs, sweepHealthCheck, type SweepHealth } from "../sweep/last-sweep.js";
import { findPauses } from "../sweep/sql/find-pauses.js";
import type { Pause } from "../sweep/pause.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { buildInfo } from "./build-info.js";

/** How long start-up waits for the fail-fast connections; past it HTTP callers get 503 until they connect. */
const REQUEST_READY_MS = 5000;

export interface Ops extends Component {
  readonly metrics: Metrics;
  /**
   * The fail-fast connection (purpose "request") of the API's reprocess queue; /readyz pings it and
   * the health reads go over it, so "ready" means the API can enqueue. The API drops it when an
   * enqueue overruns, so the command cannot run after the caller was told it failed.
   */
  readonly requestRedis: RedisConnection;
  /** Every queue, each on a fail-fast connection of its own: producers only (board, queue depth, the API's enqueue). */
  readonly queues: { readonly reprocess: Queue<ReprocessJobData>; readonly all: readonly Queue[] };
  readonly sweepHealth: () => Promise<SweepHealth>;
  /** The pauses in force now (PostgreSQL); one query serves a second of requests. */
  readonly pauses: () => Promise<readonly Pause[]>;
}

export async function startOps(ctx: Context): Promise<Ops> {
  const { config, redis } = ctx;
  // Everything served over HTTP fails fast: a caller gets a 503 within seconds while Redis is away,
  // and no command of theirs is queued to run after they were told it failed.
  const requestRedis = redis.connect("request", "reprocess queue (HTTP)");
  const reprocess = createReprocessQueue(requestRedis, config.queuePrefix);
  const all: Queue[] = [createSweepQueue(redis.connect("request", "sweep queue (HTTP)"), config.queuePrefix), reprocess];
  // The board and the queue-depth metric also show the events queue (webhook deliveries live in
  // PostgreSQL: the outbox's metrics and outbox_cursors show them).
  if (config.eventsQueueEnabled) all.push(createEventsQueue(redis.connect("request", "events queue (HTTP)"), config.queuePrefix));
  // The webhook replays (jobs replay-<id>): the operator console and the ops endpoint add them, the board shows them.
  if (webhooksPossible(config)) all.push(createReplayQueue(redis.connect("request", "webhook replays queue (HTTP)"), config.queuePrefix));
  for (const queue of all) queue.on("error", (error) => ctx.logger.debug({ err: error, queue: queue.name }, "queue connection error (HTTP connection)"));
  const close = () => closeSteps(all.map((q) => [`${q.name} queue (HTTP)`, () => q.close()] as const));
  try {
    await redis.requestReadyWithin(REQUEST_READY_MS);
    // Overdue is judged by the Redis clock, shared by every replica; this start opens the grace period.
    const startedAtMs = await redisNowMs(redis.connect("producer", "clock"));
    const sweepHealth = sweepHealthCheck({ redis: requestRedis, prefix: config.queuePrefix, overdueAfterMs: config.sweepOverdueAfterMs ?? 3 * config.sweepIntervalMs, startedAtMs });
    const pauses = coalesced(1000, async () => (await findPauses(ctx.db)).open);
    const metrics = createMetrics({
      db: ctx.db,
      rules: ctx.rules,
      queues: all,
      sweepHealth,
      lastSweepHeld: coalesced(1000, () => readLastSweepHeld(requestRedis, config.queuePrefix)),
      redis: requestRedis,
      prefix: config.queuePrefix,
      stuckCountIntervalMs: config.sweepIntervalMs,
      pauses,
      logger: ctx.logger,
      build: { ...buildInfo(config.buildCommit), cell: config.cell },
    });
    return { name: "ops", metrics, requestRedis, queues: { reprocess, all }, sweepHealth, pauses, close };
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
}
