// Reads what the console shows. Read-only, each section on its own and bounded in time: a section
// that fails or is slow shows its error, the page still answers.
import type { Queue } from "bullmq";
import type { Db } from "../../platform/db/client.js";
import { findEscalatedTasks } from "../../sweep/sql/find-escalated-tasks.js";
import { findPauses } from "../../sweep/sql/find-pauses.js";
import { taskEventsPageSql, type TaskEventRow } from "../../api/read-api/sql/list-task-events.js";
import { outboxStats } from "../../outbox/sql/outbox-stats.js";
import { asQueryable } from "../../outbox/sql/queryable.js";
import { DISPATCH_TARGET, QUEUE_TARGET } from "../../outbox/sql/targets.js";
import type { Rule } from "../../rules/rules.js";
import { withTimeout } from "../../platform/deadline.js";
import { readLastSweepHeld } from "../../sweep/last-sweep.js";
import type { RedisConnection } from "../../platform/redis.js";
import { listGivenUp, listReplays } from "../../outbox/replay.js";
import { listOperatorActions } from "../../platform/operator-actions.js";
import { stuckReport } from "../../sweep/stuck-report.js";
import type { SweepResult } from "../../sweep/run-sweep.js";
import type { ConsoleState, OutboxState, Section, SweepRun } from "./state.js";

export interface ConsoleReadDeps {
  db: Db;
  rules: readonly Rule[];
  redis: RedisConnection;
  prefix: string;
  sweepQueue: Pick<Queue, "getJobs">;
  escalateAfter: number;
  eventsQueueEnabled: boolean;
  /**
   * Organizations with a webhook endpoint, read with the Outbox section (each page): the same read
   * as a replay request's (replayDeps: the environment's and, with WEBHOOK_SECRETS_KEY, the
   * database's), so the console shows every organization the delivery sends to.
   */
  webhookOrganizationIds: () => Promise<readonly number[]>;
}

const SECTION_TIMEOUT_MS = 5000;
const SWEEPS_SHOWN = 10;
const ESCALATED_SHOWN = 20;
const TRAIL_EVENTS = 5;
const PENDING_CAP = 100_000;
/** Organizations listed in the Outbox section: 10,000 with an endpoint would make a page of 10,000 rows. */
export const ORGANIZATIONS_SHOWN = 50;

async function section<T>(name: string, read: () => Promise<T>): Promise<Section<T>> {
  try {
    return { ok: true, value: await withTimeout(SECTION_TIMEOUT_MS, name, read()) };
  } catch (error) {
    return { ok: false, error: (error as Error)?.message ?? String(error) };
  }
}

async function readSweeps(queue: Pick<Queue, "getJobs">): Promise<SweepRun[]> {
  const jobs = await queue.getJobs(["completed", "failed"], 0, SWEEPS_SHOWN * 2);
  return jobs
    .filter((j) => j && j.finishedOn)
    .sort((a, b) => (b.finishedOn ?? 0) - (a.finishedOn ?? 0))
    .slice(0, SWEEPS_SHOWN)
    .map((j) => {
      const r = j.returnvalue as SweepResult | null | undefined;
      const failed = j.failedReason !== undefined && j.failedReason !== null && !r;
      return {
        jobId: String(j.id),
        state: failed ? "failed" : "completed",
        finishedAt: j.finishedOn ? new Date(j.finishedOn) : null,
        dryRun: (j.data as { dryRun?: boolean } | undefined)?.dryRun === true,
        result:
          r && typeof r === "object"
            ? {
                reverted: r.reverted ?? 0,
                movedToHistory: r.movedToHistory ?? 0,
                flagged: r.flagged ?? 0,
                escalated: r.escalated ?? 0,
                ...(r.dryRun ? { wouldRevert: r.wouldRevert ?? 0, wouldMoveToHistory: r.wouldMoveToHistory ?? 0, wouldFlag: r.wouldFlag ?? 0 } : {}),
                held: Object.keys(r.held ?? {}),
                paused: Object.keys(r.paused ?? {}),
                failed: Object.keys(r.failed ?? {}),
                released: Object.keys(r.released ?? {}),
                durationMs: r.durationMs ?? 0,
                interrupted: r.interrupted === true,
              }
            : null,
        failedReason: failed ? j.failedReason : null,
      } satisfies SweepRun;
    });
}

/**
 * The events queue's and the dispatch's backlog (outboxStats), and the delivery state of the
 * organizations (their outbox_cursors rows) that need attention first: failing (the longest first),
 * then with undelivered events (the oldest first), then the others by id; ORGANIZATIONS_SHOWN at most,
 * with the counts of all of them.
 */
async function readOutbox(db: Db, deps: ConsoleReadDeps): Promise<OutboxState> {
  const organizationIds = await deps.webhookOrganizationIds();
  const relayed = [...(organizationIds.length > 0 ? [DISPATCH_TARGET] : []), ...(deps.eventsQueueEnabled ? [QUEUE_TARGET] : [])];
  const stats = relayed.length > 0 ? (await outboxStats(asQueryable(db), PENDING_CAP, relayed)).targets.filter((t) => relayed.includes(t.target)) : [];
  const rows = await db.$queryRaw<
    { target: string; organization_id: number; pending: boolean; pending_age: number | null; failing_event_id: string | null; failing_since: Date | null; failed_attempts: number; last_error: string | null; next_attempt_at: Date | null; delivered_count: number; total: number; failing: number; pending_total: number }[]
  >`
    SELECT target, organization_id, pending, extract(epoch FROM now() - pending_since)::float8 AS pending_age, failing_event_id::text, failing_since,
           failed_attempts, last_error, next_attempt_at, delivered_count::float8 AS delivered_count,
           count(*) OVER ()::int AS total, (count(*) FILTER (WHERE failing_event_id IS NOT NULL) OVER ())::int AS failing, (count(*) FILTER (WHERE pending) OVER ())::int AS pending_total
    FROM outbox_cursors WHERE organization_id = ANY(${[...organizationIds]}::int[])
    ORDER BY failing_event_id IS NULL, failing_since, NOT pending, pending_since, organization_id
    LIMIT ${ORGANIZATIONS_SHOWN}::int`;
  const none = { failingEventId: null, failingSince: null, failedAttempts: 0, lastError: null, nextAttemptAt: null, deliveredCount: null };
  return {
    targets: [
      ...stats.map((t) => ({ target: t.target, organizationId: null, pending: t.pending, oldestAgeSeconds: t.oldestAgeSeconds, ...none })),
      ...rows.map((r) => ({
        target: r.target,
        organizationId: r.organization_id,
        pending: r.pending ? null : 0,
        oldestAgeSeconds: r.pending_age ?? 0,
        failingEventId: r.failing_event_id,
        failingSince: r.failing_since,
        failedAttempts: r.failed_attempts,
        lastError: r.last_error,
        nextAttemptAt: r.failing_event_id ? r.next_attempt_at : null,
        deliveredCount: Number(r.delivered_count),
      })),
    ],
    organizations: { total: rows[0]?.total ?? 0, failing: rows[0]?.failing ?? 0, pending: rows[0]?.pending_total ?? 0 },
  };
}

/**
 * The rate hold, where this version has one (a rule with `rateHold`): the last sweep's held record
 * then carries `rate` ({ reverts, window, wouldRevert, limit }) for a status it held by rate. Read
 * defensively: without the rate hold, null (the console's slot says "not in this version").
 */
export function rateHolds(rules: readonly Rule[], held: Section<Record<string, unknown>>): ConsoleState["rateHeld"] {
  if (!rules.some((r) => "rateHold" in r)) return null;
  if (!held.ok) return held;
  const out: Record<string, { detail: string }> = {};
  for (const [status, h] of Object.entries(held.value)) {
    const rate = (h as { rate?: { reverts?: unknown; window?: unknown; wouldRevert?: unknown; limit?: unknown } } | null)?.rate;
    if (rate && typeof rate === "object") out[status] = { detail: `${String(rate.reverts)} reverted in the last ${String(rate.window)}, ${String(rate.wouldRevert)} more stuck, rate limit ${String(rate.limit)}` };
  }
  return { ok: true, value: out };
}

export async function readConsoleState(deps: ConsoleReadDeps): Promise<ConsoleState> {
  const { db } = deps;
  const [clock, rules, held, pauses, sweeps, escalated, outbox, givenUp, replays, actions] = await Promise.all([
    // The database clock, bounded like a section (else this machine's): the page answers within SECTION_TIMEOUT_MS.
    section("clock", async () => (await db.$queryRaw<{ now: Date }[]>`SELECT now() AS now`)[0]!.now),
    section("stuck report", async () => (await stuckReport(db, deps.rules)).rows),
    section("redis", () => readLastSweepHeld(deps.redis, deps.prefix)),
    section("pauses", () => findPauses(db, 5)),
    section("redis", () => readSweeps(deps.sweepQueue)),
    section("escalated tasks", async () => {
      const { total, tasks } = await findEscalatedTasks(db, deps.escalateAfter, ESCALATED_SHOWN);
      // The latest few events of each (its audit trail), newest last.
      const withEvents = await Promise.all(
        tasks.map(async (t) => {
          // The newest few by the task's index range, not the primary key walked back from the newest event.
          const newest = await db.$queryRaw<TaskEventRow[]>(taskEventsPageSql(t.id, 0n, TRAIL_EVENTS, "newest"));
          return { ...t, events: newest.reverse() };
        }),
      );
      return { minReverts: deps.escalateAfter, total, tasks: withEvents };
    }),
    section("outbox", () => readOutbox(db, deps)),
    section("given-up events", () => listGivenUp(db, 100)),
    section("replays", () => listReplays(db, 10)),
    section("operator actions", () => listOperatorActions(db, 30)),
  ]);
  const now = clock.ok ? clock.value : new Date();
  return { at: now, rules, held, rateHeld: rateHolds(deps.rules, held), pauses, sweeps, escalated, outbox, givenUp, replays, actions };
}
