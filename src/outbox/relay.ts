// The outbox relay: every replica runs one, a timer that never overlaps itself and never throws
// (it logs, counts and tries again at the next interval). Each round, the replica that holds the
// target's lease (the others skip it):
//  - dispatch (when webhooks are configured): reads the events committed since its position once,
//    for all organizations (only id, txid and organization: an index range of task_events), and
//    marks the organizations among them that have an endpoint as pending, in the statement that
//    moves its position. The deliveries (delivery.ts) then read only those organizations' events.
//    A round costs what the new events cost, whatever the number of organizations.
//  - the events queue (EVENTS_QUEUE_ENABLED): adds the next pages of events as jobs whose id is
//    `evt_<id>` (BullMQ ignores an id it holds: a page re-added after a crash adds nothing twice),
//    then moves the position — unless the queue holds EVENTS_QUEUE_MAX_WAITING jobs nobody took:
//    then it stops adding (watchdog_events_queue_capped = 1) and the events wait in the outbox.
// Leases, not locks: a replica that dies stops renewing, and another takes over after OUTBOX_LEASE.
import type { Queue } from "bullmq";
import type pg from "pg";
import type { Logger } from "pino";
import { KEEP_COMPLETED, KEEP_FAILED } from "../platform/queue-names.js";
import { toEventMessage, type TaskEventMessage } from "./message.js";
import { relayTarget } from "./cursor-loop.js";
import { giveWay } from "./give-way.js";
import type { OutboxMetrics, OutboxTargetKind } from "./metrics.js";
import { readEventsPage } from "./sql/read-events.js";
import { advanceTarget, claimTarget, dispatchPage, DISPATCH_TARGET, ensureTargets, QUEUE_TARGET, releaseTarget, webhookTarget } from "./sql/targets.js";

export interface OutboxRelayOptions {
  pool: pg.Pool;
  owner: string;
  logger: Logger;
  metrics: OutboxMetrics;
  intervalMs: number;
  leaseMs: number;
  batchSize: number;
  /** null: the events queue is off. */
  eventsQueue: Queue<TaskEventMessage> | null;
  /** Jobs waiting in the events queue past which the relay stops adding. */
  eventsQueueMaxWaiting: number;
  /** The organizations with an endpoint (their targets are created); empty: no dispatch. */
  webhookOrganizationIds: readonly number[];
  /** Called after dispatch marked organizations (this replica's delivery looks for them at once). */
  onDispatched?: () => void;
  deferWhile?: () => boolean;
}

export interface OutboxRelay {
  /** Stops the timer and waits for the round in flight. Safe to call twice. */
  close(): Promise<void>;
}

/** Pages per target and round: shutdown and the other target get their turn. */
const PAGES_PER_ROUND = 20;
/** Dispatch reads only three narrow columns: bigger pages. */
const DISPATCH_PAGE = 5000;

/** Every target a relay with these options needs a row for. */
export function relayTargets(options: Pick<OutboxRelayOptions, "eventsQueue" | "webhookOrganizationIds">): { target: string; organizationId: number | null }[] {
  const webhooks = options.webhookOrganizationIds;
  return [
    ...(webhooks.length > 0 ? [{ target: DISPATCH_TARGET, organizationId: null }] : []),
    ...(options.eventsQueue ? [{ target: QUEUE_TARGET, organizationId: null }] : []),
    ...webhooks.map((organizationId) => ({ target: webhookTarget(organizationId), organizationId })),
  ];
}

/**
 * Creates the targets' rows (awaited, so a new target starts before the sweep writes anything) and
 * starts the timer. Never throws: a database away at start is retried each round.
 */
export async function startOutboxRelay(options: OutboxRelayOptions): Promise<OutboxRelay> {
  const { pool, owner, leaseMs, metrics } = options;
  const targets = relayTargets(options);
  const deferring = giveWay(options.deferWhile);
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
      metrics.relayError(kind);
      // One line per target and distinct error, not one per interval of an outage.
      const text = (error as Error)?.message ?? String(error);
      if (lastError.get(target) !== text) options.logger.warn({ err: error, target }, "outbox relay round failed; retrying at the next interval");
      lastError.set(target, text);
    }
  };
  const shouldStop = () => stopping || deferring();

  const dispatch = async () => {
    const cursor = await claimTarget(pool, DISPATCH_TARGET, owner, leaseMs);
    if (!cursor) return; // another replica dispatches
    await relayTarget(
      pool,
      owner,
      cursor,
      {
        read: (position, limit) => readEventsPage(pool, position, null, "routing", limit),
        relay: async (rows, pinned) => {
          const organizations = [...new Set(rows.map((r) => r.organization_id))];
          const kept = await dispatchPage(pool, owner, leaseMs, pinned.snapTo, rows.at(-1)!, rows.length, organizations.map(webhookTarget));
          if (!kept) return { done: 0, stop: true };
          options.onDispatched?.();
          return { done: rows.length };
        },
      },
      { pageSize: DISPATCH_PAGE, maxPages: PAGES_PER_ROUND, shouldStop },
    );
  };

  let capped = false;
  const relayQueue = async (queue: Queue<TaskEventMessage>) => {
    const cursor = await claimTarget(pool, QUEUE_TARGET, owner, leaseMs);
    if (!cursor) return;
    const atCap = async () => {
      const waiting = await queue.getJobCountByTypes("wait", "prioritized", "delayed");
      const now = waiting >= options.eventsQueueMaxWaiting;
      if (now !== capped) {
        if (now) options.logger.warn({ waiting, max: options.eventsQueueMaxWaiting }, "events queue at its cap (EVENTS_QUEUE_MAX_WAITING): relaying to it paused; the events wait in the outbox");
        else options.logger.info({ waiting }, "events queue below its cap again: relaying to it resumed");
      }
      capped = now;
      metrics.queueCapped(now);
      return now;
    };
    await relayTarget(
      pool,
      owner,
      cursor,
      {
        read: (position, limit) => readEventsPage(pool, position, null, "full", limit),
        relay: async (rows, pinned) => {
          const messages = rows.map(toEventMessage);
          await queue.addBulk(messages.map((data) => ({ name: data.type, data, opts: { jobId: data.id, removeOnComplete: KEEP_COMPLETED, removeOnFail: KEEP_FAILED } })));
          if (!(await advanceTarget(pool, QUEUE_TARGET, owner, leaseMs, pinned.snapTo, rows.at(-1)!, rows.length))) return { done: 0, stop: true };
          metrics.delivered("queue", "delivered", rows.length);
          return { done: rows.length };
        },
      },
      { pageSize: options.batchSize, maxPages: PAGES_PER_ROUND, shouldStop: async () => shouldStop() || (await atCap()) },
    );
  };

  const runRound = async () => {
    if (deferring()) return;
    if (!ensured) {
      await guard("targets", "queue", async () => {
        await ensureTargets(pool, targets);
        ensured = true;
      });
      if (!ensured) return;
    }
    if (options.webhookOrganizationIds.length > 0) await guard(DISPATCH_TARGET, "webhook", dispatch);
    const queue = options.eventsQueue;
    if (queue && !stopping) await guard(QUEUE_TARGET, "queue", () => relayQueue(queue));
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
    await guard("targets", "queue", async () => {
      await ensureTargets(pool, targets);
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
        // Handed over at once, not after the lease: a replica taking over (a rolling deploy) starts now.
        for (const target of [DISPATCH_TARGET, QUEUE_TARGET]) await releaseTarget(pool, target, owner).catch(() => undefined);
      })()),
  };
}
