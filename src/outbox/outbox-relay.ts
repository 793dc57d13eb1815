// The outbox relay: every replica runs one; a timer that never overlaps itself and never throws
// (it logs, counts and tries again at the next interval). Each round:
//  - the events queue: under the target's advisory lock (one replica at a time), reads the next
//    pages of events and adds each as a job whose id is the event's `evt_<id>` — a page re-added
//    after a crash between "added" and "position moved" is deduplicated by BullMQ — then moves the
//    position;
//  - each organization with a webhook: when its delivery job is finished (or missing) and it has
//    pending events, names a new job by compare-and-set on its cursor row and adds it to the
//    webhooks queue. The job delivers (webhook-worker.ts).
// Nothing here runs inside the sweep's statements: they only write task_events rows.
import type { Queue } from "bullmq";
import type pg from "pg";
import type { Logger } from "pino";
import { advanceOutboxCursor, claimDeliveryJob, currentSnapshot, ensureOutboxCursors, finishOutboxBatch, readOutboxCursor } from "./sql/outbox-cursors.js";
import { readOutboxEvents } from "./sql/read-outbox-events.js";
import type { OutboxMetrics, OutboxTargetKind } from "./outbox-metrics.js";
import { KEEP_COMPLETED, KEEP_FAILED, WEBHOOK_JOB } from "../platform/queue-names.js";
import { toEventMessage, type TaskEventMessage } from "./message.js";
import { QUEUE_TARGET, webhookTarget, withTargetLock } from "./target-lock.js";
import { WEBHOOK_JOB_ATTEMPTS, type WebhookJobData } from "./webhook-worker.js";

export interface OutboxRelayOptions {
  pool: pg.Pool;
  logger: Logger;
  metrics: OutboxMetrics;
  intervalMs: number;
  batchSize: number;
  /** null: the events queue is off. */
  eventsQueue: Queue<TaskEventMessage> | null;
  /** null: no webhook is configured. */
  webhooks: { queue: Queue<WebhookJobData>; organizationIds: readonly number[] } | null;
  /**
   * True while this process runs a sweep: the relay then skips its rounds (for at most
   * MAX_DEFERRAL_MS in a row) and catches up when the sweep ends, so relaying never competes with a
   * recovery for this process's CPU (bench figure "webhooks and events queue on vs off").
   */
  deferWhile?: () => boolean;
}

/** The longest the relay waits for this process's sweeps before it relays a round anyway. */
export const MAX_DEFERRAL_MS = 30_000;

export interface OutboxRelay {
  /** Stops the timer and waits for the round in flight. Safe to call twice. */
  close(): Promise<void>;
}

/** Targets a relay with these options serves, with their organization (null for the queue). */
export function relayTargets(options: Pick<OutboxRelayOptions, "eventsQueue" | "webhooks">): { target: string; organizationId: number | null }[] {
  return [
    ...(options.eventsQueue ? [{ target: QUEUE_TARGET, organizationId: null }] : []),
    ...(options.webhooks?.organizationIds ?? []).map((organizationId) => ({ target: webhookTarget(organizationId), organizationId })),
  ];
}

/** A round relays at most this many pages to the queue, so shutdown and the webhooks get their turn. */
const QUEUE_PAGES_PER_ROUND = 20;
const LIVE_JOB_STATES = new Set(["waiting", "active", "delayed", "prioritized", "waiting-children"]);

/**
 * Creates the targets' cursor rows (awaited, so a new target starts before the sweep writes
 * anything) and starts the timer. Never throws: a database away at start is retried each round.
 */
export async function startOutboxRelay(options: OutboxRelayOptions): Promise<OutboxRelay> {
  const targets = relayTargets(options);
  let stopping = false;
  let ensured = false;
  let timer: NodeJS.Timeout | undefined;
  let round: Promise<void> = Promise.resolve();
  const lastError = new Map<string, string>();

  const guard = async (target: string, kind: OutboxTargetKind, work: () => Promise<void>) => {
    try {
      await work();
      if (lastError.delete(target)) options.logger.info({ target }, "outbox relay recovered");
    } catch (error) {
      options.metrics.relayError(kind);
      // One line per target and distinct error, not one per interval of an outage.
      const text = (error as Error)?.message ?? String(error);
      if (lastError.get(target) !== text) options.logger.warn({ err: error, target }, "outbox relay round failed; retrying at the next interval");
      lastError.set(target, text);
    }
  };

  const relayQueue = async (queue: Queue<TaskEventMessage>) => {
    await withTargetLock(options.pool, QUEUE_TARGET, async (client) => {
      for (let page = 0; page < QUEUE_PAGES_PER_ROUND && !stopping && !givingWay(); page += 1) {
        const cursor = await readOutboxCursor(client, QUEUE_TARGET);
        const snapTo = cursor.snapTo ?? (await currentSnapshot(client));
        const rows = await readOutboxEvents(client, { ...cursor, snapTo }, null, options.batchSize);
        if (rows.length === 0) {
          await finishOutboxBatch(client, QUEUE_TARGET, snapTo);
          if (cursor.snapTo === null) return;
          continue;
        }
        const messages = rows.map(toEventMessage);
        await queue.addBulk(messages.map((data) => ({ name: data.type, data, opts: { jobId: data.id, removeOnComplete: KEEP_COMPLETED, removeOnFail: KEEP_FAILED } })));
        await advanceOutboxCursor(client, QUEUE_TARGET, snapTo, rows.at(-1)!, rows.length);
        options.metrics.delivered("queue", "delivered", rows.length);
      }
    });
  };

  const scheduleWebhook = async (queue: Queue<WebhookJobData>, organizationId: number) => {
    const target = webhookTarget(organizationId);
    const cursor = await readOutboxCursor(options.pool, target);
    if (cursor.jobId) {
      const job = await queue.getJob(cursor.jobId);
      if (job && LIVE_JOB_STATES.has(await job.getState())) return;
    }
    // Under the target's lock (a job of another replica may be starting): is anything pending? An
    // organization with nothing pending moves its position to now, so the window the next check
    // reads stays as short as one interval instead of growing with every other organization's events.
    const pending = await withTargetLock(options.pool, target, async (client) => {
      const current = await readOutboxCursor(client, target);
      if (current.snapTo !== null) return true; // a batch in progress
      const snapTo = await currentSnapshot(client);
      const next = await readOutboxEvents(client, { ...current, snapTo }, organizationId, 1);
      if (next.length === 0) await finishOutboxBatch(client, target, snapTo);
      return next.length > 0;
    });
    if (!pending.locked || !pending.value) return;
    const jobId = await claimDeliveryJob(options.pool, target, cursor.jobId);
    if (!jobId) return; // another replica named one first
    await queue.add(WEBHOOK_JOB, { organizationId }, { jobId, attempts: WEBHOOK_JOB_ATTEMPTS, backoff: { type: "webhook" }, removeOnComplete: KEEP_COMPLETED, removeOnFail: KEEP_FAILED });
  };

  let deferredSince: number | undefined;
  let forced = false;
  /** True while a sweep of this process runs, unless this round was forced by a long deferral. */
  const givingWay = () => !forced && (options.deferWhile?.() ?? false);
  const runRound = async () => {
    forced = false;
    if (options.deferWhile?.()) {
      deferredSince ??= Date.now();
      if (Date.now() - deferredSince < MAX_DEFERRAL_MS) return;
      forced = true; // one round now, the next one MAX_DEFERRAL_MS later if the sweeps go on
    }
    deferredSince = forced ? Date.now() : undefined;
    if (!ensured) {
      await guard("cursors", "queue", async () => {
        await ensureOutboxCursors(options.pool, targets.map((t) => t.target));
        ensured = true;
      });
      if (!ensured) return;
    }
    if (options.eventsQueue) {
      const queue = options.eventsQueue;
      await guard(QUEUE_TARGET, "queue", () => relayQueue(queue));
    }
    if (options.webhooks) {
      const { queue, organizationIds } = options.webhooks;
      for (const organizationId of organizationIds) {
        if (stopping || givingWay()) return;
        await guard(webhookTarget(organizationId), "webhook", () => scheduleWebhook(queue, organizationId));
      }
    }
  };

  const schedule = () => {
    if (stopping) return;
    // ±10 % jitter: replicas started together do not poll in lockstep.
    const delay = Math.round(options.intervalMs * (0.9 + 0.2 * Math.random()));
    timer = setTimeout(() => {
      round = runRound().finally(schedule);
    }, delay);
  };

  if (targets.length > 0) {
    await guard("cursors", "queue", async () => {
      await ensureOutboxCursors(options.pool, targets.map((t) => t.target));
      ensured = true;
    });
    round = runRound().finally(schedule);
  }

  let closed: Promise<void> | undefined;
  return {
    close: () =>
      (closed ??= (async () => {
        stopping = true;
        clearTimeout(timer);
        await round.catch(() => undefined);
      })()),
  };
}
