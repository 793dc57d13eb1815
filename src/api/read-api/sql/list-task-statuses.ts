// listTaskStatuses — one page of one organization's tasks, for GET …/sdtask/statuslist. Read-only.
//
// In:    organizationId (the caller's token's), optional filters (statuses, warning, location,
//        stuck-now), afterId (keyset: where the previous page stopped, 0 for the first) and limit.
//        Order is id ascending: an id never changes, so a task that exists throughout is listed
//        exactly once over all pages however tasks change status between them.
// Bound: a page reads at most `scanBudget(limit, branches)` rows — 10 × limit — whatever the
//        filters and the organization's size (docs/performance.md, "Scale"). The rows come, in id
//        order from afterId on, from the narrowest index that serves the filters:
//          warning=true        tasks_organization_id_warning_id_idx (organization_id, id) WHERE warning
//          statuses / stuck    tasks_organization_id_status_id_idx (organization_id, status, id), one
//                              range per status, merged in id order (Merge Append, read lazily);
//                              stuck=true narrows to the statuses a rule watches
//          otherwise           tasks_organization_id_id_idx (organization_id, id)
//        and the remaining filters are checked on those rows. When the budget runs out before the
//        page is full, the page is short (possibly empty) and the cursor points at the last row
//        READ, so the next call goes on from there: a filter that matches nothing in a 2M-task
//        organization costs 4,000 short pages to walk, each as cheap as a full one, instead of one
//        request that reads 2M rows and passes the statement timeout.
//        Stuck-now takes the effective thresholds as two jsonb objects (status → seconds;
//        "status:workspace" → seconds or null = switched off): a keyed lookup per row read, the same
//        verdict as src/rules/stuck.ts, by the database clock, whatever the number of overrides.
// Locks: none (a plain snapshot read).
// Out:   up to `limit` tasks and the id to continue after (null on the last page).
import * as Prisma from "../../../platform/db/sql.js";
import type { StuckThresholds } from "../../../rules/stuck.js";
import type { Db } from "../../../platform/db/client.js";
import { TASK_STATUS_COLUMNS, type TaskStatusRow } from "./task-status-columns.js";

export interface TaskStatusFilter {
  readonly statuses: readonly number[] | null;
  readonly warning: boolean | null;
  readonly location: "INBOX" | "HISTORY" | null;
  readonly stuck: boolean | null;
  /** status_changed_at at or after this instant (absent: any). */
  readonly changedSince?: Date | null;
  /** status_changed_at before this instant (absent: any). */
  readonly changedUntil?: Date | null;
}

export interface TaskStatusPage {
  readonly tasks: TaskStatusRow[];
  /** Where the next page starts (after this id), or null when nothing is left to read. */
  readonly nextAfterId: number | null;
}

/** A page reads at most this many rows (index entries and table rows together) per row it shows. */
export const ROWS_READ_PER_PAGE_ROW = 10;

/**
 * The rows a page's stream may take. A stream of whole rows (the organization's id range) reads
 * each once: 10 × limit. A stream of ids from a covering index is then looked up row by row: half
 * of that, less one read-ahead entry per merged range. Never fewer than limit + 1: a full page
 * must see whether another row follows.
 */
export function scanBudget(limit: number, stream: "rows" | "ids", ranges = 1): number {
  const rows = ROWS_READ_PER_PAGE_ROW * limit;
  return Math.max(limit + 1, stream === "rows" ? rows : rows / 2 - Math.max(0, ranges - 1));
}

/** The thresholds as keyed jsonb, built once per rules (the handler keeps it). */
export interface StuckLookup {
  /** {"41": 14400, …}: one key per enabled rule's status. */
  readonly defaults: string;
  /** {"41:71": 3600, "41:8": null, …}: one key per (status, workspace) an override names. */
  readonly overrides: string;
  /** The statuses a task can be stuck in: an enabled rule's, or one an override switches on somewhere. */
  readonly watched: readonly number[];
}

export function stuckLookup(thresholds: StuckThresholds): StuckLookup {
  const watched = new Set(thresholds.defaults.map((d) => d.status));
  for (const o of thresholds.overrides) if (o.stuckAfterSeconds !== null) watched.add(o.status);
  return {
    defaults: JSON.stringify(Object.fromEntries(thresholds.defaults.map((d) => [String(d.status), d.stuckAfterSeconds]))),
    overrides: JSON.stringify(Object.fromEntries(thresholds.overrides.map((o) => [`${o.status}:${o.workspaceId}`, o.stuckAfterSeconds]))),
    watched: [...watched].sort((a, b) => a - b),
  };
}

/** The statuses whose index ranges the page reads, or null for the organization's whole id range. */
function statusRanges(filter: TaskStatusFilter, lookup: StuckLookup): number[] | null {
  let statuses = filter.statuses === null ? null : [...new Set(filter.statuses)];
  if (filter.stuck === true) statuses = (statuses ?? lookup.watched).filter((s) => lookup.watched.includes(s));
  return statuses?.sort((a, b) => a - b) ?? null;
}

interface PageSql {
  sql: Prisma.Sql;
  budget: number;
}

/** The page's statement; null when no task can match (stuck=true on statuses nothing watches). */
export function listTaskStatusesSql(organizationId: number, filter: TaskStatusFilter, lookup: StuckLookup, afterId: number, limit: number): PageSql | null {
  const ranges = filter.warning === true ? null : statusRanges(filter, lookup);
  if (ranges !== null && ranges.length === 0) return null;
  // `organization_id BETWEEN x AND x` (B-tree positions it as `= x`) keeps organization_id in the
  // order the planner must produce, which only the organization indexes give without a sort: with
  // `= x`, the primary key's id order would do, filtering rows one by one without bound wherever
  // the planner misjudges how many match.
  // And `(x, id) > (x, after)` rather than `id > after`: the primary key cannot use that for a
  // range either (near the table's end, a range of the newest ids of every organization looked cheap).
  // (Only for the organization's whole id range: with a status, both conditions are equalities and
  // B-tree positions on (organization, status, after) directly; a row comparison there would not.)
  const org = Prisma.sql`t.organization_id BETWEEN ${organizationId}::int AND ${organizationId}::int`;
  const after = Prisma.sql`(t.organization_id, t.id) > (${organizationId}::int, ${afterId}::int)`;
  let budget: number;
  let rows: Prisma.Sql;
  let order: Prisma.Sql;
  if (filter.warning !== true && ranges === null) {
    budget = scanBudget(limit, "rows");
    order = Prisma.sql`t.organization_id, t.id`;
    rows = Prisma.sql`SELECT t.*, row_number() OVER (ORDER BY t.organization_id, t.id) AS read_no
      FROM (SELECT t.* FROM tasks t WHERE ${org} AND ${after} ORDER BY t.organization_id, t.id LIMIT ${budget}::int) t`;
  } else {
    // Ids from a covering index, every condition an index condition (an index-only scan, which
    // the planner prefers to any index that would need the table to check a filter), merged in id
    // order and read lazily, then each row by its id.
    budget = scanBudget(limit, "ids", ranges?.length ?? 1);
    order = Prisma.sql`t.id`;
    const idRange = (extra: Prisma.Sql) =>
      Prisma.sql`(SELECT t.id FROM tasks t WHERE t.organization_id = ${organizationId}::int AND ${extra} AND t.id > ${afterId}::int ORDER BY t.id LIMIT ${budget}::int)`;
    const ids =
      ranges === null
        ? idRange(Prisma.sql`t.warning`) // literally, so the planner can prove the partial index's predicate
        : Prisma.join(ranges.map((status) => idRange(Prisma.sql`t.status = ${status}::smallint`)), " UNION ALL ");
    rows = Prisma.sql`SELECT t.*, s.read_no
      FROM (SELECT s.id, row_number() OVER (ORDER BY s.id) AS read_no
            FROM (SELECT s.id FROM (${ids}) s ORDER BY s.id LIMIT ${budget}::int) s) s
      CROSS JOIN LATERAL (SELECT * FROM tasks t WHERE t.id = s.id) t`;
  }

  const conditions = columnConditions(filter);
  if (filter.stuck !== null) conditions.push(stuckCondition(lookup, filter.stuck));
  const matched = conditions.length === 0 ? Prisma.sql`true` : Prisma.join(conditions, " AND ");
  // The rows read, numbered; shown: those that match, and the budget's last row (where the next page starts).
  return {
    budget,
    sql: Prisma.sql`
    SELECT ${TASK_STATUS_COLUMNS}, t.read_no::int AS read_no, t.matched
    FROM (SELECT t.*, (${matched}) AS matched FROM (${rows}) t) t
    WHERE t.matched OR t.read_no = ${budget}::int
    ORDER BY ${order}
    LIMIT ${limit + 1}::int`,
  };
}

export async function listTaskStatuses(db: Db, organizationId: number, filter: TaskStatusFilter, lookup: StuckLookup, afterId: number, limit: number): Promise<TaskStatusPage> {
  const page = listTaskStatusesSql(organizationId, filter, lookup, afterId, limit);
  if (page === null) return { tasks: [], nextAfterId: null };
  const rows = await db.$queryRaw<(TaskStatusRow & { read_no: number; matched: boolean })[]>(page.sql);
  const shown = rows.filter((r) => r.matched);
  const tasks = shown.slice(0, limit).map(({ read_no: _n, matched: _m, ...task }) => task);
  if (shown.length > limit) return { tasks, nextAfterId: tasks.at(-1)!.id };
  // Short page: more may follow only when the budget ran out; go on after the last row read.
  const lastRead = rows.find((r) => r.read_no === page.budget);
  return { tasks, nextAfterId: lastRead ? lastRead.id : null };
}

/** Stuck now (or not): the task's effective threshold looked up by key, by the database clock. */
function stuckCondition(lookup: StuckLookup, stuck: boolean): Prisma.Sql {
  // An override decides alone (its null switches the rule off in that workspace).
  const key = Prisma.sql`t.status::text || ':' || t.workspace_id::text`;
  const seconds = Prisma.sql`CASE WHEN ${lookup.overrides}::jsonb ? (${key}) THEN (${lookup.overrides}::jsonb ->> (${key}))::bigint
                                  ELSE (${lookup.defaults}::jsonb ->> t.status::text)::bigint END`;
  const now = Prisma.sql`(t.location = 'INBOX' AND t.status_changed_at < now() - ${seconds} * interval '1 second')`;
  return stuck ? Prisma.sql`${now} IS TRUE` : Prisma.sql`${now} IS NOT TRUE`;
}

/** Per watched status, the shortest threshold it has anywhere (its rule's, or an override's that is not off). */
function shortestThresholds(thresholds: StuckThresholds): Map<number, number> {
  const shortest = new Map<number, number>();
  const take = (status: number, seconds: number | null) => {
    if (seconds !== null) shortest.set(status, Math.min(seconds, shortest.get(status) ?? seconds));
  };
  for (const d of thresholds.defaults) take(d.status, d.stuckAfterSeconds);
  for (const o of thresholds.overrides) take(o.status, o.stuckAfterSeconds);
  return shortest;
}

/**
 * The filter as SQL over `tasks t`, for a bulk reprocess's selection of its tasks
 * (src/reprocess/sql/select-bulk-tasks.ts): the FROM item and the WHERE conditions. Not paged:
 * the rows it reads are those its indexed conditions leave, and it stops at `limit` matches.
 * `stuck=true` reads, per watched status, the inbox index's range of tasks older than the
 * status's shortest threshold (tasks_inbox_status_changed_at_idx, oldest first, the full verdict
 * checked on each and at most `limit` taken): its cost is the stuck-looking rows of those
 * statuses, not the organization's size. (Before, it walked the whole organization: 167,000
 * buffers, 1.6 s, in a 2M-task organization with nothing stuck.) Each status's `limit` is exact:
 * more than `limit` matches in one status are more than `limit` in all.
 */
export function taskFilterSql(organizationId: number, filter: TaskStatusFilter, thresholds: StuckThresholds, limit: number): { from: Prisma.Sql; conditions: Prisma.Sql[] } {
  const organization = Prisma.sql`t.organization_id = ${organizationId}::int`;
  if (filter.stuck !== true) {
    const conditions = [organization, ...columnConditions(filter)];
    if (filter.stuck === false) conditions.push(stuckCondition(stuckLookup(thresholds), false));
    return { from: Prisma.sql`tasks t`, conditions };
  }
  const lookup = stuckLookup(thresholds);
  const shortest = shortestThresholds(thresholds);
  const statuses = (filter.statuses ?? lookup.watched).filter((s) => shortest.has(s)).sort((a, b) => a - b);
  if (statuses.length === 0) return { from: Prisma.sql`tasks t`, conditions: [Prisma.sql`false`] };
  const ranges = statuses.map(
    (status) => Prisma.sql`(SELECT t.* FROM tasks t
      WHERE t.location = 'INBOX' AND t.status = ${status}::smallint AND t.status_changed_at < now() - ${shortest.get(status)!}::bigint * interval '1 second'
        AND ${Prisma.join([organization, ...columnConditions(filter), stuckCondition(lookup, true)], " AND ")}
      ORDER BY t.status_changed_at LIMIT ${limit}::int)`,
  );
  return { from: Prisma.sql`(${Prisma.join(ranges, " UNION ALL ")}) t`, conditions: [Prisma.sql`true`] };
}

/** The filter's conditions on the task's own columns (all but `stuck`, which each caller judges its own way). */
function columnConditions(filter: TaskStatusFilter): Prisma.Sql[] {
  const conditions: Prisma.Sql[] = [];
  if (filter.statuses !== null) conditions.push(Prisma.sql`t.status = ANY(${[...filter.statuses]}::smallint[])`);
  if (filter.warning !== null) conditions.push(Prisma.sql`t.warning = ${filter.warning}::boolean`);
  if (filter.location !== null) conditions.push(Prisma.sql`t.location = ${filter.location}::task_location`);
  if (filter.changedSince != null) conditions.push(Prisma.sql`t.status_changed_at >= ${filter.changedSince}::timestamptz`);
  if (filter.changedUntil != null) conditions.push(Prisma.sql`t.status_changed_at < ${filter.changedUntil}::timestamptz`);
  return conditions;
}
