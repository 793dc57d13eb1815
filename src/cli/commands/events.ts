// `watchdog events replay` and `watchdog events given-up`: webhook replay from the command line.
// The replay itself is src/outbox/replay.ts, shared with the operator console and the ops endpoint
// (same checks, same audit record); a running worker sends it.
import type { Config } from "../../platform/config/settings.js";
import { createDb } from "../../platform/db/client.js";
import { webhooksPossible } from "../../outbox/webhook-config.js";
import { replayAction } from "../../ops/actions.js";
import { createReplayQueue, listGivenUp, replayDeps } from "../../outbox/replay.js";
import { replayInputSchema } from "../../outbox/replay-request.js";
import { checkPostgres, checkRedis } from "../../platform/preflight.js";
import { addsForCaller, createRedis, endConnection, QueueUnavailable } from "../../platform/redis.js";
import { settlesWithin } from "../../platform/deadline.js";
import { describeRedisError, ServiceError } from "../../platform/service-errors.js";
import { table } from "../format.js";
import { MIGRATIONS_DIR } from "../paths.js";
import { asCli, parseOptions } from "./pause.js";

/** Closing the queue and its connection waits at most this each (then drops the connection). */
const CLOSE_MS = 1000;

export interface ReplayOptions {
  event?: string[];
  organization?: string;
  since?: string;
  until?: string;
  givenUp: boolean;
  by?: string;
  reason?: string;
}

export async function replayCommand(config: Config, options: ReplayOptions): Promise<void> {
  const request = parseOptions(replayInputSchema, {
    ...(options.event ? { event: options.event } : {}),
    ...(options.organization !== undefined ? { organization: options.organization } : {}),
    ...(options.since !== undefined ? { since: options.since } : {}),
    ...(options.until !== undefined ? { until: options.until } : {}),
    ...(options.givenUp ? { givenUp: true } : {}),
    by: options.by,
    reason: options.reason,
  });
  const possible = webhooksPossible(config);
  await checkPostgres(config.databaseUrl, MIGRATIONS_DIR);
  const db = createDb(config.databaseUrl, { max: 1, statementTimeoutMs: config.databaseStatementTimeoutMs, connectTimeoutMs: config.databaseConnectTimeoutMs });
  try {
    if (!possible) {
      console.log(JSON.stringify(await asCli(() => replayAction(replayDeps(config, db, null), request, "cli"))));
      return;
    }
    await checkRedis(config);
    const redis = createRedis(config.redisUrl, { clusterNodes: config.redisClusterNodes });
    redis.on("error", () => undefined); // a failure ends the command below, worded once
    const queue = createReplayQueue(redis, config.queuePrefix);
    queue.on("error", () => undefined);
    try {
      // The add is bounded (a Redis that stopped answering after the check), as the console's.
      const outcome = await asCli(() => replayAction(replayDeps(config, db, addsForCaller(queue)), request, "cli")).catch((error: unknown) => {
        if (!(error instanceof QueueUnavailable)) throw error;
        throw new ServiceError(`${describeRedisError(error.cause, config.redisUrl)}; the replay was recorded but not queued: nothing was sent`);
      });
      console.log(JSON.stringify(outcome));
    } finally {
      // Bounded too: on a Redis that stopped answering, a close or a quit would wait for ever.
      await settlesWithin(queue.close(), CLOSE_MS);
      await endConnection(redis, CLOSE_MS);
    }
  } finally {
    await db.$disconnect();
  }
}

export async function givenUpCommand(config: Config, json: boolean): Promise<void> {
  await checkPostgres(config.databaseUrl, MIGRATIONS_DIR);
  const db = createDb(config.databaseUrl, { max: 1, statementTimeoutMs: config.databaseStatementTimeoutMs, connectTimeoutMs: config.databaseConnectTimeoutMs });
  try {
    const { total, events } = await listGivenUp(db, 1000);
    if (json) {
      console.log(JSON.stringify({ total, events }, null, 2));
      return;
    }
    if (total === 0) {
      console.log("No given-up webhook event is waiting for a replay.");
      return;
    }
    console.log(
      table(
        ["event", "organization", "given up at", "attempts", "replay", "last error"],
        events.map((e) => [e.eventId, e.organizationId, e.givenUpAt.toISOString(), e.attempts, e.replayPending ? "pending" : "-", e.lastError ?? ""]),
      ),
    );
    console.log(`\n${total} given-up event(s). Replay them: watchdog events replay --given-up --by <name> --reason <why>`);
  } finally {
    await db.$disconnect();
  }
}
