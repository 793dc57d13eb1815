// findStatusesWithStuckTasks — read-only: which statuses of a sweep have at least one stuck task
// right now, all answered in one round trip.
//
// In:    the status plans of the effective rules (thresholds as data, src/sweep/sweep-plan.ts).
// Locks: none (a plain snapshot read).
// Does:  per status, the oldest inbox task (one descent of tasks_inbox_status_changed_at_idx, in a
//        LATERAL over the statuses,
//        ORDER BY status_changed_at LIMIT 1) against the shortest threshold: younger = quiet. A
//        status with workspace overrides and an old task then judges each workspace by its own
//        threshold (stuck-workspaces.ts: one descent per workspace, never the rows of a switched-off
//        one) — in the same round trip for up to INLINE_OVERRIDES overrides, in a second one (for
//        such statuses only) beyond. Not EXISTS for the first step: the planner drops an EXISTS's ORDER BY/LIMIT and may
//        pick a seq scan "to find the first of thousands".
// Out:   the plans that have work, in the order given. A report-only status whose stuck tasks are
//        all flagged already still counts: its statement finds nothing new and ends.
//
// Why: a sweep runs every interval and nearly always finds nothing. With this check a quiet sweep
// is one cheap query whatever the number of overrides, and the batch statements run only for
// statuses that have stuck tasks. A task that gets stuck just after this check is the next sweep's.
import * as Prisma from "../../platform/db/sql.js";
import type { StatusPlan } from "../sweep-plan.js";
import { prepared, type Db, type SqlFragment } from "../../platform/db/client.js";
import { stuckWorkspacesCtes } from "./stuck-workspaces.js";

/**
 * Overrides of a status sent with the first round trip. Beyond this many, the first round trip asks
 * only "is anything older than the shortest threshold?" and a second one, for those statuses only,
 * carries their thresholds: a quiet sweep never ships thousands of overrides to the database.
 */
export const INLINE_OVERRIDES = 100;

type Check = "descent" | "workspaces";

const checksOf = (plans: readonly StatusPlan[], inlineOverrides: number): Check[] =>
  plans.map((plan) => (plan.thresholds.workspaceIds.length === 0 || plan.thresholds.workspaceIds.length > inlineOverrides ? "descent" : "workspaces"));

/**
 * The statement itself, exported so test/integration/query-plan.test.ts can EXPLAIN exactly it.
 * Its row: `descent`, the answers of the plain descents in plan order (all of them in one LATERAL
 * over the statuses as arrays: planned once, not once per status — planning ten sub-selects cost
 * three times the quiet sweep's execution); `workspaces`, those of the statuses judged by workspace.
 */
export function statusesWithStuckTasksSql(plans: readonly StatusPlan[], inlineOverrides = INLINE_OVERRIDES): Prisma.Sql {
  const checks = checksOf(plans, inlineOverrides);
  const descents = plans.filter((_, i) => checks[i] === "descent");
  const ctes = plans.flatMap((plan, i) => (checks[i] === "workspaces" ? [stuckWorkspacesCtes(plan.status, plan.thresholds, plan.minSeconds, `_${i}`)] : []));
  const workspaces = plans.flatMap((_, i) => (checks[i] === "workspaces" ? [Prisma.sql`EXISTS (SELECT 1 FROM ${Prisma.raw(`stuck_ws_${i}`)})`] : []));
  const descent =
    descents.length === 0
      ? Prisma.sql`ARRAY[]::boolean[]`
      : Prisma.sql`(SELECT array_agg(coalesce(x.at < now() - p.seconds * interval '1 second', false) ORDER BY p.ord)
                    FROM unnest(${descents.map((p) => p.status)}::smallint[], ${descents.map((p) => p.minSeconds)}::bigint[]) WITH ORDINALITY AS p(status, seconds, ord)
                    LEFT JOIN LATERAL (SELECT t.status_changed_at AS at FROM tasks t WHERE t.location = 'INBOX' AND t.status = p.status
                                       ORDER BY t.status_changed_at LIMIT 1) x ON true)`;
  const select = Prisma.sql`SELECT ${descent} AS descent, ARRAY[${workspaces.length === 0 ? Prisma.empty : Prisma.join(workspaces)}]::boolean[] AS workspaces`;
  return ctes.length === 0 ? select : Prisma.sql`WITH RECURSIVE ${Prisma.join(ctes, ", ")} ${select}`;
}

/** The statement of a plans array, built once: plans are immutable, and a quiet sweep is mostly this. */
const built = new WeakMap<readonly StatusPlan[], Map<number, SqlFragment>>();
function statementFor(plans: readonly StatusPlan[], inlineOverrides: number): SqlFragment {
  const byInline = built.get(plans) ?? new Map<number, SqlFragment>();
  built.set(plans, byInline);
  let sql = byInline.get(inlineOverrides);
  // Prepared: its plan (one descent per status) does not depend on the values, and planning it cost
  // more than running it on a quiet sweep.
  if (!sql) byInline.set(inlineOverrides, (sql = prepared(statusesWithStuckTasksSql(plans, inlineOverrides))));
  return sql;
}

async function ask(db: Db, plans: readonly StatusPlan[], inlineOverrides: number): Promise<boolean[]> {
  const [row] = await db.$queryRaw<{ descent: boolean[]; workspaces: boolean[] }[]>(statementFor(plans, inlineOverrides));
  const answers = { descent: row?.descent ?? [], workspaces: row?.workspaces ?? [] };
  const next = { descent: 0, workspaces: 0 };
  return checksOf(plans, inlineOverrides).map((check) => answers[check][next[check]++] === true);
}

export async function findStatusesWithStuckTasks(db: Db, plans: readonly StatusPlan[]): Promise<StatusPlan[]> {
  if (plans.length === 0) return [];
  const first = await ask(db, plans, INLINE_OVERRIDES);
  const sure = plans.filter((plan, i) => first[i] === true && plan.thresholds.workspaceIds.length <= INLINE_OVERRIDES);
  // Old tasks in a status with many overrides: now judge its workspaces, with its thresholds.
  const maybe = plans.filter((plan, i) => first[i] === true && plan.thresholds.workspaceIds.length > INLINE_OVERRIDES);
  if (maybe.length === 0) return sure;
  const second = await ask(db, maybe, Infinity);
  const confirmed = new Set(maybe.filter((_, i) => second[i] === true));
  return plans.filter((plan) => sure.includes(plan) || confirmed.has(plan));
}
