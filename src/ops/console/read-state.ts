// Reads what the console shows. Read-only, each section on its own and bounded in time: a section
// that fails or is slow shows its error, the page still answers.
import type { Queue } from "bullmq";
import type { Db } from "../../platform/db/client.js";
import { findEscalatedTasks } from "../../sweep/sql/find-escalated-tasks.js";
import { findPauses } from "../../sweep/sql/find-pauses.js";
import { listTaskEvents } from "../../api/read-api/sql/list-task-events.js";
import { outboxPending } from "../../outbox/sql/outbox-cursors.js";
import type { Queryable } from "../../outbox/sql/read-outbox-events.js";
import type { Rule } from "../../rules/rules.js";
import { withTimeout } from "../../platform/deadline.js";
import { readLastSweepHeld } from "../../sweep/last-sweep.js";
import type { RedisConnection } from "../../platform/redis.js";
import { listGivenUp, listReplays } from "../../outbox/replay.js";
import { listOperatorActions } from "../../platform/operator-actions.js";
import { stuckReport } from "../../sweep/stuck-report.js";
import type { SweepResult } from "../../sweep/run-sweep.js";
import type { ConsoleState, DeliveryState, Section, SweepRun } from "./state.js";

export interface ConsoleReadDeps {
  db: Db;
  rules: readonly Rule[];
  redis: RedisConnection;
  prefix: string;
  sweepQueue: Pick<Queue, "getJobs">;
  escalateAfter: number;
  /** The relay's targets: the events queue (organizationId null) and each organization with a webhook. */
  targets: readonly { target: string; organizationId: number | null }[];
}

const SECTION_TIMEOUT_MS = 5000;
const SWEEPS_SHOWN = 10;
const ESCALATED_SHOWN = 20;
const TRAIL_EVENTS = 5;
const PENDING_CAP = 100_000;

async function section<T>(name: string, read: () => Promise<T>): Promise<Section<T>> {
  try {
    return { ok: true, value: await withTimeout(SECTION_TIMEOUT_MS, name, read()) };
  } catch (error) {
    return { ok: false, error: (error as Error)?.message ?? String(error) };
  }
}

/** Prisma's raw query in node-postgres' shape, for the statements written against pg. */
const asQueryable = (db: Db): Queryable => ({ query: (async (text: string, params: unknown[] = []) => ({ rows: await db.$queryRawUnsafe(text, ...params) })) as unknown as Queryable["query"] });

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

async function readOutbox(db: Db, targets: ConsoleReadDeps["targets"]): Promise<DeliveryState[]> {
  if (targets.length === 0) return [];
  const pending = new Map((await outboxPending(asQueryable(db), targets, PENDING_CAP)).map((p) => [p.target, p]));
  const rows = await db.$queryRaw<{ target: string; failing_event_id: string | null; failing_since: Date | null; failed_attempts: number; last_error: string | null; delivered_count: number }[]>`
    SELECT target, failing_event_id::text, failing_since, failed_attempts, last_error, delivered_count::float8 AS delivered_count
    FROM outbox_cursors WHERE target = ANY(${targets.map((t) => t.target)}::text[])`;
  const cursors = new Map(rows.map((r) => [r.target, r]));
  return targets.map((t) => {
    const c = cursors.get(t.target);
    const p = pending.get(t.target);
    return {
      target: t.target,
      organizationId: t.organizationId,
      pending: p?.pending ?? 0,
      oldestAgeSeconds: p?.oldestAgeSeconds ?? 0,
      failingEventId: c?.failing_event_id ?? null,
      failingSince: c?.failing_since ?? null,
      failedAttempts: c?.failed_attempts ?? 0,
      lastError: c?.last_error ?? null,
      deliveredCount: Number(c?.delivered_count ?? 0),
    };
  });
}

export async function readConsoleState(deps: ConsoleReadDeps): Promise<ConsoleState> {
  const { db } = deps;
  const [rules, held, pauses, sweeps, escalated, outbox, givenUp, replays, actions] = await Promise.all([
    section("stuck report", async () => (await stuckReport(db, deps.rules)).rows),
    section("redis", () => readLastSweepHeld(deps.redis, deps.prefix)),
    section("pauses", () => findPauses(db, 5)),
    section("redis", () => readSweeps(deps.sweepQueue)),
    section("escalated tasks", async () => {
      const { total, tasks } = await findEscalatedTasks(db, deps.escalateAfter, ESCALATED_SHOWN);
      // The latest few events of each (its audit trail), newest last.
      const withEvents = await Promise.all(
        tasks.map(async (t) => {
          const events = await db.$queryRaw<Awaited<ReturnType<typeof listTaskEvents>>["events"]>`
            SELECT * FROM (SELECT e.id, e.kind::text AS kind, e.from_status, e.to_status, e.reason, e.actor, e.sweep_id, e.request_id, e.stuck_since, e.details, e.created_at
                           FROM task_events e WHERE e.task_id = ${t.id}::int ORDER BY e.id DESC LIMIT ${TRAIL_EVENTS}::int) x ORDER BY id`;
          return { ...t, events };
        }),
      );
      return { minReverts: deps.escalateAfter, total, tasks: withEvents };
    }),
    section("outbox", () => readOutbox(db, deps.targets)),
    section("given-up events", () => listGivenUp(db, 100)),
    section("replays", () => listReplays(db, 10)),
    section("operator actions", () => listOperatorActions(db, 30)),
  ]);
  const [{ now }] = (await db.$queryRaw<{ now: Date }[]>`SELECT now() AS now`.catch(() => [{ now: new Date() }])) as [{ now: Date }];
  return { at: now, rules, held, rateHeld: null, pauses, sweeps, escalated, outbox, givenUp, replays, actions };
}
