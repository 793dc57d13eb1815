// Webhook replay: sends chosen events to their organization's endpoint once more, each with its
// original `webhook-id` (evt_<id>) and a fresh, valid signature, so a receiver that keeps the ids
// it has seen takes a replayed event it already has as a duplicate.
//
// A replay is a row per event in webhook_replays under one operator action (the audit record:
// who, why, which events), written in one transaction, then one job `replay-<id>` on the queue
// task-watchdog-webhook-replays. Its worker (one per replica, started by the outbox component)
// sends the rows still pending and marks each delivered; a failed request fails the job and BullMQ
// retries it with the webhooks' backoff until WEBHOOK_RETRY_FOR has passed since the request, then
// the rest are abandoned (visible in the console and on the board). A Retry of that job from Bull
// Board sends the undelivered rows again; a Retry of a job with nothing left to send is refused
// with a reason, never completed empty.
//
// Replay reads the delivery state; it does not move any organization's position: live delivery
// goes on beside it (a replayed event may arrive after later ones — it is a copy, by id). Which
// organizations have an endpoint, and how to sign for them, is the delivery's endpoint directory
// (endpoint-directory.ts): WEBHOOKS_FILE / WEBHOOKS_JSON and, with WEBHOOK_SECRETS_KEY, the database's.
import { throttledErrorLog } from "../platform/log-safety.js";
import type { DrainableWorker } from "../platform/drain-worker.js";
import { JobDataWorker, unparsableJobDataMessage, unknownJobNameMessage } from "../platform/job-data-worker.js";
import { Queue, UnrecoverableError, type ConnectionOptions, type Job } from "bullmq";
import type { Logger } from "pino";
import type { Db } from "../platform/db/client.js";
import * as Prisma from "../platform/db/sql.js";
import type { Queryable } from "./sql/queryable.js";
import { eventMessageId, toEventMessage, type OutboxEventRow } from "./message.js";
import type { WebhookSender } from "./send-webhook.js";
import { loadWebhookEndpoints } from "./webhook-config.js";
import { organizationsWithEndpoint, type EndpointDirectory } from "./endpoint-directory.js";
import { createKeyring } from "./webhook-secret-box.js";
import { asQueryable } from "./sql/queryable.js";
import type { Config } from "../platform/config/settings.js";
import { formatDuration } from "../rules/duration.js";
import { KEEP_COMPLETED, KEEP_FAILED, REPLAY_JOB, WEBHOOK_REPLAYS_QUEUE } from "../platform/queue-names.js";
import { webhookBackoff } from "./delivery.js";
import { ActionError, recordOperatorAction, type ActionVia } from "../platform/operator-actions.js";
import { parseReplayJobData, REPLAY_JOB_EXAMPLE } from "./replay-job.js";
import { describeSelection, MAX_REPLAY_EVENTS, type ReplayRequest, type ReplaySelection } from "./replay-request.js";

export { REPLAY_JOB, WEBHOOK_REPLAYS_QUEUE };
/** A replay job is retried until WEBHOOK_RETRY_FOR has passed since the request (by time, not by count). */
export const REPLAY_JOB_ATTEMPTS = 1_000_000;
export const replayJobId = (replayId: string) => `replay-${replayId}`;
/** Serialises replay requests, so two at once never both take the same pending event. */
const REPLAY_LOCK_KEY = 7_000_021;

export interface ReplayJobData {
  replayId: string;
}

export interface ReplayOutcome {
  replayId: string;
  jobId: string;
  /** Events put in this replay. */
  events: number;
  /** Events left out because a replay not yet finished already holds them. */
  alreadyPending: number;
  organizationIds: number[];
}

export interface ReplayDeps {
  db: Db;
  /** The replays queue; null when no webhook can be sent (webhooksPossible: no endpoint in the environment, no WEBHOOK_SECRETS_KEY). */
  queue: Pick<Queue, "add" | "getJobState"> | null;
  /** The organizations with an endpoint, read when a replay is asked for (the environment's and the database's). */
  organizationIds: () => Promise<readonly number[]>;
  /** Attempts of the replay job: by time (WEBHOOK_RETRY_FOR), as the deliveries. */
  attempts: number;
}

/** Where a refusal points the operator: both places an endpoint can come from. */
const ENDPOINT_SOURCES = "WEBHOOKS_FILE / WEBHOOKS_JSON, or `watchdog webhooks create` with WEBHOOK_SECRETS_KEY";

/**
 * ReplayDeps as the CLI and the console build them: the organizations with an endpoint are read at
 * each request from the endpoint directory's sources, so an endpoint created a moment ago with
 * `watchdog webhooks create` can be replayed to at once (to fill in its past events, say).
 */
export function replayDeps(config: Pick<Config, "webhooksFile" | "webhooksJson" | "webhookSecretsKeys">, db: Db, queue: ReplayDeps["queue"]): ReplayDeps {
  const fromEnvironment = loadWebhookEndpoints(config);
  const keyring = config.webhookSecretsKeys ? createKeyring(config.webhookSecretsKeys) : null;
  return { db, queue, attempts: REPLAY_JOB_ATTEMPTS, organizationIds: () => organizationsWithEndpoint({ fromEnvironment, db: asQueryable(db), keyring }) };
}

/** An event and the organization it was written for (task_events.organization_id, what the live delivery sent it to). */
type Candidate = { event_id: string; organization_id: number };

/**
 * replayRangeSql — In: one organization, a time range, a limit. Out: its events written in the range
 * (`created_at`), the first `limit` of them in time order. Reads the range's months (partitions pruned
 * by created_at), and in them either the range's events, every organization's (task_events_created_at_brin_idx,
 * by blocks of 32 pages), or the organization's events (task_events_organization_id_txid_id_idx): the
 * planner takes the fewer. The biggest tenant's hour reads that hour, not its month. Locks: none.
 */
export function replayRangeSql(s: { organizationId: number; since: Date; until: Date }, limit: number): Prisma.Sql {
  return Prisma.sql`
        SELECT e.id::text AS event_id, e.organization_id FROM task_events e
        WHERE e.organization_id = ${s.organizationId}::int AND e.created_at >= ${s.since} AND e.created_at < ${s.until}
        ORDER BY e.created_at, e.id LIMIT ${limit}::int`;
}

/** The events a selection names, at most MAX_REPLAY_EVENTS + 1 (to tell "too many"). Read-only. */
async function selectCandidates(tx: Pick<Db, "$queryRaw">, s: ReplaySelection): Promise<Candidate[]> {
  const limit = MAX_REPLAY_EVENTS + 1;
  switch (s.kind) {
    case "events":
      return tx.$queryRaw<Candidate[]>`
        SELECT e.id::text AS event_id, e.organization_id FROM task_events e
        WHERE e.id = ANY(${s.eventIds}::bigint[]) ORDER BY e.id`;
    case "range":
      return tx.$queryRaw<Candidate[]>(replayRangeSql(s, limit));
    case "givenUp":
      return tx.$queryRaw<Candidate[]>`
        SELECT g.event_id::text AS event_id, g.organization_id FROM webhook_given_up g
        WHERE (${s.organizationId}::int IS NULL OR g.organization_id = ${s.organizationId}::int)
          AND NOT EXISTS (SELECT 1 FROM webhook_replays r WHERE r.event_id = g.event_id AND r.delivered_at >= g.given_up_at)
        ORDER BY g.event_id LIMIT ${limit}::int`;
  }
}

/**
 * A replay's rows wait for its job. A process stopped between the request's commit and its add (or a
 * Redis that lost the job) left them waiting for ever, and their events refused by every later
 * replay as "already in a replay". Rows that have waited this long are judged by their job: none, or
 * one that has finished, and they are abandoned. Never sooner: a request that has just committed adds
 * its job within ENQUEUE_TIMEOUT_MS.
 */
const ORPHAN_AFTER_SECONDS = 60;
const ORPHAN_ERROR = "its job is not in the queue (the request stopped before queuing it, or Redis lost it): abandoned by a later request";

/** Of these replays (their rows waiting past ORPHAN_AFTER_SECONDS), those whose job is gone or finished. */
async function orphanedReplays(queue: Pick<Queue, "getJobState">, replayIds: readonly string[]): Promise<string[]> {
  const states = await Promise.all(replayIds.map((id) => queue.getJobState(replayJobId(id))));
  return replayIds.filter((_, i) => ["unknown", "completed", "failed"].includes(states[i]!));
}

/**
 * requestReplay — the one way a replay is asked for (CLI, console, ops endpoint). Checks the
 * selection, writes the audit record and the replay's rows in one transaction, then queues the
 * job. Nothing is written when anything is wrong: an unknown event id, an organization without
 * an endpoint, too many events, nothing to replay.
 */
export async function requestReplay(deps: ReplayDeps, request: ReplayRequest, via: ActionVia): Promise<ReplayOutcome> {
  if (!deps.queue) throw new ActionError("BadRequest", `no webhook endpoint is configured (${ENDPOINT_SOURCES}), so there is nothing to replay to`);
  const { selection } = request;
  // Read before the transaction: the CLI's Db has a single connection, which the transaction holds.
  const withEndpoint = new Set(await deps.organizationIds());
  const written = await deps.db.$transaction(async (tx) => {
    await tx.$queryRaw`SELECT true AS locked FROM pg_advisory_xact_lock(${REPLAY_LOCK_KEY}::bigint)`;
    const candidates = await selectCandidates(tx, selection);
    if (selection.kind === "events") {
      const found = new Set(candidates.map((c) => c.event_id));
      const missing = selection.eventIds.filter((id) => !found.has(id));
      if (missing.length > 0) throw new ActionError("NotFound", `no event ${missing.slice(0, 10).map((id) => `evt_${id}`).join(", ")}${missing.length > 10 ? ` (and ${missing.length - 10} more)` : ""} in task_events`);
    }
    if (candidates.length > MAX_REPLAY_EVENTS) throw new ActionError("BadRequest", `the selection has more than ${MAX_REPLAY_EVENTS} events; narrow it (a shorter time range, one organization) and replay in parts`);
    const noEndpoint = [...new Set(candidates.map((c) => c.organization_id).filter((id) => !withEndpoint.has(id)))];
    if (noEndpoint.length > 0) throw new ActionError("BadRequest", `organization ${noEndpoint.join(", ")} has no webhook endpoint (${ENDPOINT_SOURCES}): its events cannot be sent`);
    const waiting = await tx.$queryRaw<{ event_id: string; replay_id: string; settled: boolean }[]>`
        SELECT event_id::text AS event_id, replay_id::text AS replay_id, requested_at < now() - ${ORPHAN_AFTER_SECONDS} * interval '1 second' AS settled FROM webhook_replays
        WHERE event_id = ANY(${candidates.map((c) => c.event_id)}::bigint[]) AND delivered_at IS NULL AND abandoned_at IS NULL`;
    const orphans = await orphanedReplays(deps.queue!, [...new Set(waiting.filter((w) => w.settled).map((w) => w.replay_id))]);
    if (orphans.length > 0) {
      await tx.$executeRaw`UPDATE webhook_replays SET abandoned_at = now(), last_error = ${ORPHAN_ERROR}
        WHERE replay_id = ANY(${orphans}::bigint[]) AND delivered_at IS NULL AND abandoned_at IS NULL`;
    }
    const pending = new Set(waiting.filter((w) => !orphans.includes(w.replay_id)).map((w) => w.event_id));
    const chosen = candidates.filter((c) => !pending.has(c.event_id));
    if (chosen.length === 0) {
      const what = selection.kind === "givenUp" ? "no given-up event is waiting for a replay" : "the selection has no events";
      throw new ActionError("NotFound", pending.size > 0 ? `every selected event is already in a replay that has not finished (${pending.size}); see the console or the queue task-watchdog-webhook-replays` : what);
    }
    const organizationIds = [...new Set(chosen.map((c) => c.organization_id))].sort((a, b) => a - b);
    const replayId = await recordOperatorAction(tx, {
      action: "replay",
      actor: request.by,
      reason: request.reason,
      via,
      details: { selection: describeSelection(selection), events: chosen.length, alreadyPending: pending.size, organizationIds },
    });
    await tx.$queryRaw`
      INSERT INTO webhook_replays (replay_id, event_id, organization_id)
      SELECT ${replayId}::bigint, e, o FROM unnest(${chosen.map((c) => c.event_id)}::bigint[], ${chosen.map((c) => c.organization_id)}::int[]) AS x(e, o)`;
    return { replayId, events: chosen.length, alreadyPending: pending.size, organizationIds };
  });
  const jobId = replayJobId(written.replayId);
  try {
    await deps.queue.add(REPLAY_JOB, { replayId: written.replayId }, { jobId, attempts: deps.attempts, backoff: { type: "replay" }, removeOnComplete: KEEP_COMPLETED, removeOnFail: KEEP_FAILED });
  } catch (error) {
    // The rows must not hold their events as "pending" for a job that does not exist.
    await deps.db.$executeRaw`UPDATE webhook_replays SET abandoned_at = now(), last_error = 'could not be queued (Redis)' WHERE replay_id = ${written.replayId}::bigint AND delivered_at IS NULL`;
    throw error;
  }
  return { ...written, jobId };
}

/**
 * Every column toEventMessage needs, for some event ids, as the live delivery reads them: the
 * organization, workspace and external id the event was written with (task_events' own columns),
 * not the task's now — a task deleted since still has its events, one handed to another
 * organization since must not take its past events there. No locks.
 */
async function readEventsByIds(db: Queryable, ids: readonly string[]): Promise<Map<string, OutboxEventRow>> {
  const { rows } = await db.query<OutboxEventRow>(
    `SELECT e.id::text AS id, e.txid::text AS txid, e.task_id, e.organization_id, e.workspace_id, e.external_id, e.kind::text AS kind,
            e.from_status, e.to_status, e.reason, e.actor, e.sweep_id, e.request_id, e.stuck_since, e.created_at, e.details
     FROM task_events e
     WHERE e.id = ANY($1::bigint[])`,
    [ids],
  );
  return new Map(rows.map((r) => [r.id, r]));
}

export interface ReplayProcessorOptions {
  pool: Queryable;
  /** The outbox's endpoint directory (refreshed by the outbox): the replay signs and sends as the live delivery does. */
  endpoints: Pick<EndpointDirectory, "get">;
  /** WEBHOOK_ENDPOINTS_REFRESH when endpoints may be kept in the database, else 0. */
  endpointsRefreshMs: number;
  /** The outbox's webhook connections (outbox.ts): the live delivery's. */
  sender: Pick<WebhookSender, "send">;
  timeoutMs: number;
  retryForMs: number;
  stopping: () => boolean;
}

/**
 * The job's replay id, or an UnrecoverableError (failed once, never retried) naming what is wrong:
 * bad data is a BadRequest, not a fault. Nothing of the data goes into the message uncut.
 */
function checkedReplayId(job: Job<ReplayJobData>): string {
  if (job.name !== REPLAY_JOB) throw new UnrecoverableError(unknownJobNameMessage(job.name, WEBHOOK_REPLAYS_QUEUE, REPLAY_JOB));
  const unparsable = unparsableJobDataMessage(job.data, REPLAY_JOB_EXAMPLE);
  if (unparsable !== null) throw new UnrecoverableError(unparsable);
  const parsed = parseReplayJobData(job.data);
  if (!parsed.ok) throw new UnrecoverableError(parsed.error);
  return parsed.replayId;
}

/**
 * Sends a replay's undelivered events (abandoned ones too: a Retry from the board is a new
 * attempt), in event order, marking each delivered. A failure fails the job (retried with
 * backoff) or, past WEBHOOK_RETRY_FOR since the request, abandons the rest for good. An attempt
 * that could send none of them (each pruned, or its organization without an endpoint) is refused,
 * naming why: never completed empty.
 */
export function createReplayProcessor(options: ReplayProcessorOptions): (job: Job<ReplayJobData>) => Promise<{ delivered: number }> {
  return async (job) => {
    const replayId = checkedReplayId(job);
    const { rows } = await options.pool.query<{ event_id: string; organization_id: number; age_seconds: number }>(
      `SELECT event_id::text, organization_id, extract(epoch FROM now() - requested_at)::float8 AS age_seconds
       FROM webhook_replays WHERE replay_id = $1::bigint AND delivered_at IS NULL ORDER BY event_id`,
      [replayId],
    );
    if (rows.length === 0) {
      const { rows: all } = await options.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM webhook_replays WHERE replay_id = $1::bigint`, [replayId]);
      throw new UnrecoverableError(all[0]?.n ? `Refused: replay ${replayId} has delivered all its ${all[0].n} events already; nothing to send. To send them again, ask for a new replay (watchdog events replay, or the console)` : `NotFound: replay ${replayId} has no events`);
    }
    const events = await readEventsByIds(options.pool, rows.map((r) => r.event_id));
    let delivered = 0;
    const abandoned: string[] = [];
    for (const row of rows) {
      if (options.stopping()) throw new Error(`replay ${replayId}: stopped by shutdown after ${delivered} events; the rest go out on the next attempt`);
      const event = events.get(row.event_id);
      const entry = options.endpoints.get(row.organization_id);
      if (event && !entry && row.age_seconds * 1000 < 2 * options.endpointsRefreshMs) {
        // An endpoint created just before the request reaches this replica's directory at its next
        // refresh (within one interval, doubled for the read itself): wait for it rather than abandon.
        throw new Error(`replay ${replayId}: organization ${row.organization_id}'s webhook endpoint is not read from the database yet (WEBHOOK_ENDPOINTS_REFRESH); ${delivered} sent this attempt, the rest on the next`);
      }
      if (!event || !entry) {
        const why = !event ? "the event is no longer in task_events" : `organization ${row.organization_id} has no webhook endpoint now (${ENDPOINT_SOURCES})`;
        await options.pool.query(`UPDATE webhook_replays SET abandoned_at = now(), last_error = $3 WHERE replay_id = $1::bigint AND event_id = $2::bigint`, [replayId, row.event_id, why]);
        abandoned.push(`${eventMessageId(row.event_id)}: ${why}`);
        continue;
      }
      const outcome = await options.sender.send(entry, entry.sign, toEventMessage(event), options.timeoutMs);
      if (outcome.ok) {
        await options.pool.query(`UPDATE webhook_replays SET delivered_at = now(), abandoned_at = NULL, attempts = attempts + 1, last_error = NULL WHERE replay_id = $1::bigint AND event_id = $2::bigint`, [replayId, row.event_id]);
        delivered += 1;
        continue;
      }
      await options.pool.query(`UPDATE webhook_replays SET attempts = attempts + 1, last_error = left($3, 500) WHERE replay_id = $1::bigint AND event_id = $2::bigint`, [replayId, row.event_id, outcome.reason]);
      if (row.age_seconds * 1000 >= options.retryForMs) {
        await options.pool.query(`UPDATE webhook_replays SET abandoned_at = now() WHERE replay_id = $1::bigint AND delivered_at IS NULL`, [replayId]);
        throw new UnrecoverableError(`replay ${replayId} gave up after ${formatDuration(row.age_seconds)}: evt_${row.event_id}: ${outcome.reason}; ${delivered} sent this attempt. Retry this job to try the undelivered ones again`);
      }
      throw new Error(`replay ${replayId}: evt_${row.event_id} not delivered: ${outcome.reason}; ${delivered} sent this attempt, the rest on the next`);
    }
    // Never green without sending: a replay that could send none of its events is refused with why.
    if (delivered === 0 && abandoned.length > 0) throw new UnrecoverableError(`Refused: replay ${replayId} sent nothing: ${abandoned.slice(0, 3).join("; ")}${abandoned.length > 3 ? `; and ${abandoned.length - 3} more` : ""}`);
    return { delivered };
  };
}

export interface GivenUpEvent {
  eventId: string;
  organizationId: number;
  givenUpAt: Date;
  attempts: number;
  lastError: string | null;
  /** A replay holds it and has not finished. */
  replayPending: boolean;
}

/**
 * listGivenUp — given-up events no replay has delivered since, oldest first (at most `limit`), and
 * how many in all. No locks.
 */
export async function listGivenUp(db: Pick<Db, "$queryRaw">, limit: number): Promise<{ total: number; events: GivenUpEvent[] }> {
  const rows = await db.$queryRaw<{ event_id: string; organization_id: number; given_up_at: Date; attempts: number; last_error: string | null; pending: boolean; total: number }[]>`
    SELECT g.event_id::text, g.organization_id, g.given_up_at, g.attempts, g.last_error,
           EXISTS (SELECT 1 FROM webhook_replays r WHERE r.event_id = g.event_id AND r.delivered_at IS NULL AND r.abandoned_at IS NULL) AS pending,
           count(*) OVER ()::int AS total
    FROM webhook_given_up g
    WHERE NOT EXISTS (SELECT 1 FROM webhook_replays r WHERE r.event_id = g.event_id AND r.delivered_at >= g.given_up_at)
    ORDER BY g.given_up_at, g.event_id LIMIT ${limit}::int`;
  return {
    total: rows[0]?.total ?? 0,
    events: rows.map((r) => ({ eventId: `evt_${r.event_id}`, organizationId: r.organization_id, givenUpAt: r.given_up_at, attempts: r.attempts, lastError: r.last_error, replayPending: r.pending })),
  };
}

export interface ReplaySummary {
  replayId: string;
  by: string;
  reason: string | null;
  at: Date;
  events: number;
  delivered: number;
  abandoned: number;
  lastError: string | null;
}

/** listReplays — the latest replays with their progress, newest first. No locks. */
export async function listReplays(db: Pick<Db, "$queryRaw">, limit: number): Promise<ReplaySummary[]> {
  const rows = await db.$queryRaw<{ id: string; actor: string; reason: string | null; created_at: Date; events: number; delivered: number; abandoned: number; last_error: string | null }[]>`
    SELECT a.id::text, a.actor, a.reason, a.created_at, s.events, s.delivered, s.abandoned, s.last_error
    FROM (SELECT * FROM operator_actions WHERE action = 'replay' ORDER BY id DESC LIMIT ${limit}::int) a
    CROSS JOIN LATERAL (
      SELECT count(*)::int AS events, count(r.delivered_at)::int AS delivered,
             count(*) FILTER (WHERE r.delivered_at IS NULL AND r.abandoned_at IS NOT NULL)::int AS abandoned,
             max(r.last_error) FILTER (WHERE r.delivered_at IS NULL) AS last_error
      FROM webhook_replays r WHERE r.replay_id = a.id) s
    ORDER BY a.id DESC`;
  return rows.map((r) => ({ replayId: r.id, by: r.actor, reason: r.reason, at: r.created_at, events: r.events, delivered: r.delivered, abandoned: r.abandoned, lastError: r.last_error }));
}

export function createReplayQueue(connection: ConnectionOptions, prefix: string): Queue<ReplayJobData> {
  return new Queue<ReplayJobData>(WEBHOOK_REPLAYS_QUEUE, { connection, prefix });
}

export interface ReplayWorkerOptions extends ReplayProcessorOptions {
  connection: ConnectionOptions;
  prefix: string;
  retryDelayMs: number;
  retryMaxDelayMs: number;
  logger: Logger;
}

/**
 * The replays' worker: one replay at a time per replica, retried with the webhooks' backoff. A
 * JobDataWorker, as the sweep's and reprocess's: data that is not JSON reaches the processor and
 * fails as a BadRequest, instead of leaving the job "active" with nobody working on it.
 */
export function createReplayWorker(options: ReplayWorkerOptions): DrainableWorker<ReplayJobData, { delivered: number }> {
  const backoff = webhookBackoff(options.retryDelayMs, options.retryMaxDelayMs);
  const worker = new JobDataWorker<ReplayJobData, { delivered: number }>(WEBHOOK_REPLAYS_QUEUE, createReplayProcessor(options), {
    connection: options.connection,
    prefix: options.prefix,
    concurrency: 1,
    settings: { backoffStrategy: (attemptsMade) => backoff(attemptsMade) },
  });
  worker.on("failed", (job, error) => options.logger.warn({ jobId: job?.id, err: { message: error.message } }, "webhook replay attempt failed"));
  // A Redis outage reaches this worker like every other: throttled, as theirs (a fault of its own is in "failed" above).
  worker.on("error", throttledErrorLog(options.logger, "webhook replay worker error"));
  return worker;
}
