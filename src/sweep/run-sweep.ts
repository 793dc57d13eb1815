// One sweep: every status of the rules, batch after batch until nothing is left (or a shutdown
// asks us to stop between batches). Each batch is one statement, so one transaction; a backlog
// of any size never becomes one giant transaction. Before acting on a status the sweep counts its
// stuck tasks per probe (the rule, or one of its workspace overrides): a probe with more than its
// hold limit acts on none of them (an outage is not fixed by reverting the first thousand), the
// others go on. Then the rate hold of a revert rule: when the status's reverts within its window
// (every replica's, from status_revert_counts) plus what this sweep would revert pass its rate
// limit, the sweep reverts none of the status (a slow burn); each revert batch then counts the
// window again under a lock per status and reverts at most what is left of the limit, so sweeps of
// several replicas at once, or tasks stuck after the count, never take the window past it. A sweep
// acts on no more tasks of a status than its count weighed. Every batch statement checks the
// pauses itself, so a pause that commits during a sweep stops it before the next batch. One status's failing statement is logged and reported and the other statuses
// still run; a database that is frozen or gone fails the sweep as a whole (db/statement-error.ts).
import type { Logger } from "pino";
import type { RateHold, Rule } from "../rules/rules.js";
import { allOff, everyWorkspaceThresholds, holdDecision, holdLimit, listedThresholds, probeWorkspaces, rateDecision, statusPlansFor, type StatusPlan, type Thresholds } from "./sweep-plan.js";
import { statusName } from "../rules/status.js";
import { CLIENT_TIMEOUT_MARGIN_MS, type Db, type Queries } from "../platform/db/client.js";
import { revertStuckTasks, type BatchInput, type BatchOutcome } from "./sql/revert-stuck-tasks.js";
import { moveFinishedTasksToHistory } from "./sql/move-finished-tasks-to-history.js";
import { flagStuckTasks } from "./sql/flag-stuck-tasks.js";
import { countInboxPopulation, countStuckByProbe, type StuckByProbe, type StuckCount } from "./sql/count-stuck-by-probe.js";
import { findStatusesWithStuckTasks } from "./sql/find-statuses-with-stuck-tasks.js";
import { isStatementError, sqlState } from "../platform/db/statement-error.js";
import { fixedBatchSize, type BatchSizing } from "./batch-size.js";
import { countRecentReverts, lockRevertWindow } from "./sql/count-recent-reverts.js";
import { isPausedNow } from "./sql/is-paused-now.js";

/** SQLSTATE query_canceled: what statement_timeout raises. */
const QUERY_CANCELED = "57014";

export interface StatusSummary {
  action: StatusPlan["action"]["kind"];
  count: number;
  /** Per target status name, for reverts (Deleting may go to several). */
  to?: Record<string, number>;
  /** A few of the task ids acted on (or, in a dry run, that would be). */
  sampleTaskIds: number[];
  /** Dry run only: since when the oldest of them has been stuck. */
  oldestSince?: string;
}

/** One held probe: more stuck than its limit, so the sweep acted on none of its tasks. */
export interface HeldProbe {
  /** "others" = the rule's own probe; else the override's workspace ids. */
  workspaces: number[] | "others";
  /** Stuck tasks counted; with `atLeast`, counting stopped at limit + 1 (the hold needs no more). */
  stuck: number;
  atLeast?: boolean;
  limit: number;
  maxTasks: number | null;
  maxShare: number | null;
  /** The status's inbox tasks, counted when maxShare is set; else null. */
  population: number | null;
}

/** A status held by its rate hold: its reverts in the window plus what this sweep would revert pass the limit. */
export interface RateHeld {
  /** Reverts of the status within the window (every replica's). */
  reverts: number;
  /** Stuck tasks this sweep would have reverted (none were). */
  wouldRevert: number;
  /** max(maxReverts, floor(normalMultiple × normalPerWindow)). */
  limit: number;
  maxReverts: number;
  normalMultiple: number;
  /** The status's reverts over the baseline before the window, per window. */
  normalPerWindow: number;
  window: string;
  baseline: string;
}

/** Per status: the totals over its held probes, and each of them; `rate` when the rate hold held it. */
export interface HeldStatus extends Omit<HeldProbe, "workspaces"> {
  probes: HeldProbe[];
  rate?: RateHeld;
}

export interface SweepResult {
  sweepId: string;
  dryRun: boolean;
  reverted: number;
  movedToHistory: number;
  flagged: number;
  /** Reverts that reached ESCALATE_AFTER_REVERTS for their task ("needs support"). */
  escalated: number;
  /** Dry runs only: what the sweep would have done (reverted, movedToHistory and flagged stay 0: it did nothing). */
  wouldRevert?: number;
  wouldMoveToHistory?: number;
  wouldFlag?: number;
  byStatus: Record<string, StatusSummary>;
  /** Statuses with held probes: nothing of those probes was done (dry run: would be held). */
  held: Record<string, HeldStatus>;
  /** Statuses released from their hold for this sweep, by whom, and how many tasks that let through. */
  released: Record<string, { by: string; count: number }>;
  /** Paused statuses that had stuck tasks: what would have been done; nothing was. */
  paused: Record<string, { stuck: number; sampleTaskIds: number[] }>;
  /** Statuses whose statements failed (the others went on), with the error message. */
  failed: Record<string, string>;
  /** Batches cancelled at their time cap or statement_timeout (nothing of them applied) and retried smaller, by status. */
  cancelledBatches: Record<string, number>;
  /** Statuses whose work a pause stopped during this sweep (committed after the sweep began): no batch started after it. */
  pausedDuringSweep: string[];
  durationMs: number;
  /** True when a shutdown stopped the sweep between batches; the next sweep picks up the rest. */
  interrupted: boolean;
}

export interface SweepOptions {
  sweepId: string;
  dryRun: boolean;
  /** Tasks per batch statement; with `batchSizing`, the most a batch takes. */
  batchSize: number;
  /** The worker's adaptive sizing (src/sweep/batch-size.ts); absent, every batch takes `batchSize`. */
  batchSizing?: BatchSizing;
  /** The revert that brings a task's auto_revert_count to this is escalated (default 3). */
  escalateAfter?: number;
  /** Paused statuses (or all) report what they would do and act on none. */
  pause?: { all: boolean; statuses: ReadonlySet<number> };
  /** Held probes of these statuses act anyway, for this sweep; each event's details carry releasedBy. */
  release?: { statuses: ReadonlySet<number>; by: string };
  /** Held statuses are logged at warn, failed ones at error, a batch cancelled at its time cap at info. */
  logger?: Pick<Logger, "info" | "warn" | "error">;
  /** Checked between batches: true stops the sweep after the batch in flight. */
  shouldStop?: () => boolean;
  /** Called after every committed batch (metrics, progress). */
  onBatch?: (plan: StatusPlan, outcomes: BatchOutcome[]) => void;
  /** Called when a batch is cancelled at its cap and retried smaller: counted as it happens, so a sweep that fails later keeps it. */
  onBatchCancelled?: (plan: StatusPlan) => void;
  /** Called when a status's statement fails and the sweep goes on with the others: likewise counted as it happens. */
  onStatusFailed?: (plan: StatusPlan) => void;
}

export const DEFAULT_ESCALATE_AFTER = 3;
const MAX_SAMPLE_IDS = 10;

export async function runSweep(db: Db, rules: readonly Rule[], options: SweepOptions): Promise<SweepResult> {
  const started = performance.now();
  const result: SweepResult = {
    sweepId: options.sweepId,
    dryRun: options.dryRun,
    reverted: 0,
    movedToHistory: 0,
    flagged: 0,
    escalated: 0,
    ...(options.dryRun ? { wouldRevert: 0, wouldMoveToHistory: 0, wouldFlag: 0 } : {}),
    byStatus: {},
    held: {},
    released: {},
    paused: {},
    failed: {},
    cancelledBatches: {},
    pausedDuringSweep: [],
    durationMs: 0,
    interrupted: false,
  };
  const plans = statusPlansFor(rules);
  for (const plan of await statusesWithWork(db, plans, result, options)) {
    if (options.shouldStop?.()) {
      result.interrupted = true;
      break;
    }
    try {
      await sweepStatus(db, plan, result, options);
    } catch (error) {
      // A frozen or lost database fails the whole sweep (BullMQ records it); only a statement's own error is isolated.
      if (!isStatementError(error)) throw error;
      fail(result, plan, error, options);
    }
    if (result.interrupted) break;
  }
  result.durationMs = Math.round(performance.now() - started);
  return result;
}

/**
 * One round trip for every status (a quiet sweep ends here). If that statement fails, each
 * status asks on its own, so one status's problem cannot hide the others' stuck tasks.
 */
async function statusesWithWork(db: Db, plans: readonly StatusPlan[], result: SweepResult, options: SweepOptions): Promise<StatusPlan[]> {
  try {
    return await findStatusesWithStuckTasks(db, plans);
  } catch (error) {
    if (!isStatementError(error)) throw error;
    const withWork: StatusPlan[] = [];
    for (const plan of plans) {
      try {
        withWork.push(...(await findStatusesWithStuckTasks(db, [plan])));
      } catch (error) {
        if (!isStatementError(error)) throw error;
        fail(result, plan, error, options);
      }
    }
    return withWork;
  }
}

function fail(result: SweepResult, plan: StatusPlan, error: unknown, options: SweepOptions): void {
  const message = error instanceof Error ? error.message : String(error);
  result.failed[plan.statusName] = message;
  options.onStatusFailed?.(plan);
  options.logger?.error({ err: error, sweepId: result.sweepId, status: plan.statusName }, `sweep of ${plan.statusName} failed; the other statuses go on`);
}

/**
 * Where the level hold's count may stop: the largest limit + 1 of the status's probes (it needs to
 * know "more than the limit", not how many more); null — count everything — when a probe has no
 * level hold. Before the population is known a maxShare counts for nothing (the limit is maxTasks).
 */
function levelStopAt(plan: StatusPlan, population: number | null): number | null {
  let stop = 0;
  for (const probe of plan.probes) {
    if (probe.hold === null) return null;
    stop = Math.max(stop, (population === null ? (probe.hold.maxTasks ?? 0) : holdLimit(probe.hold, population)) + 1);
  }
  return stop;
}

async function sweepStatus(db: Db, plan: StatusPlan, result: SweepResult, options: SweepOptions): Promise<void> {
  const counted = await countStuck(db, plan, options);
  if (counted.stuck.byProbe.size === 0) return;
  const releasing = options.release?.statuses.has(plan.status) === true;
  const holds = await levelHolds(db, plan, counted, releasing, result, options);
  let acting = [...counted.stuck.byProbe].filter(([index]) => !holds.off.has(index));
  if (plan.action.kind === "revert" && plan.rateHold !== null && acting.length > 0) {
    acting = await rateHold(db, plan, plan.rateHold, acting, { ...holds, releasing }, result, options);
  }
  if (acting.length === 0) return;
  if (options.pause?.all || options.pause?.statuses.has(plan.status)) {
    result.paused[plan.statusName] = { stuck: sum(acting.map(([, c]) => c.count)), sampleTaskIds: samples(acting.map(([, c]) => c)) };
    return;
  }
  if (options.dryRun) {
    recordDryRun(result, plan, acting.map(([, c]) => c));
    return;
  }

  // Act on the workspaces just counted (minus held probes'): the batches need not look for them again.
  const { off, released } = holds;
  // A status without overrides, nothing of it held: one range over the status (everyWorkspace).
  const thresholds = (off.size === 0 ? everyWorkspaceThresholds(plan.thresholds) : null) ?? listedThresholds(counted.stuck.workspaces.filter((w) => !off.has(w.probe)));
  if (allOff(thresholds)) return;
  // Released: the operator let the status through for this sweep, past its rate limit too.
  const rate = plan.action.kind === "revert" && !releasing ? plan.rateHold : null;
  // What the holds judged is what the sweep acts on, at most: tasks stuck after the count (an outage
  // beginning while the batches run) wait for the next sweep, which judges them.
  const judged = !releasing && needsStuckCount(plan, options) ? sum(acting.map(([, c]) => c.count)) : null;
  // And only tasks stuck when the count looked (`asOf`): two overlapping sweeps (replicas, a manual
  // one) each act on what they judged, so together on no more than was stuck when the later counted.
  const windowFull = await runBatches(db, plan, { thresholds, released, rate, judged, asOf: counted.stuck.asOf }, result, options);
  if (windowFull && rate !== null) {
    // The window reached the limit during the sweep (another replica's sweep, tasks stuck since the
    // count): what is still stuck is held, reported as a rate hold found at the start would be.
    const left = [...(await countStuck(db, plan, options)).stuck.byProbe].filter(([index]) => !off.has(index));
    if (left.length > 0) await rateHold(db, plan, rate, left, { ...holds, releasing }, result, options);
  }
  if (released.length > 0) {
    const count = result.released[plan.statusName]?.count ?? 0;
    result.released[plan.statusName] = { by: options.release!.by, count };
  }
}

/** A status's stuck tasks per probe; `stopAt` where counting stopped (null: counted all), `population` when it was needed. */
interface Counted {
  stuck: StuckByProbe;
  stopAt: number | null;
  population: number | null | undefined;
}

/** Which probes act: the ones not held, or held and released for this sweep. */
interface ProbeHolds {
  /** Probes acting on none of their tasks. */
  off: Set<number>;
  /** Held probes that act anyway (the status is released for this sweep). */
  released: number[];
}

/**
 * Whether anything after the count needs to know how many are stuck: a hold (level or rate) weighs
 * them, a dry run and a paused status report them. When nothing does — the hold switched off for a
 * backlog, the sweep acting — one row per stuck workspace proves it stuck (the batches then count
 * what they do), instead of counting a million stuck tasks before the first batch.
 */
function needsStuckCount(plan: StatusPlan, options: SweepOptions): boolean {
  return (
    options.dryRun ||
    options.pause?.all === true ||
    options.pause?.statuses.has(plan.status) === true ||
    plan.rateHold !== null ||
    plan.probes.some((probe) => probe.hold !== null)
  );
}

async function countStuck(db: Db, plan: StatusPlan, options: SweepOptions): Promise<Counted> {
  const count = (stopAt: number | null) => countStuckByProbe(db, plan, { sampleSize: MAX_SAMPLE_IDS, onlyUnflagged: plan.action.kind === "flag", stopAt });
  let stopAt = needsStuckCount(plan, options) ? levelStopAt(plan, null) : 1;
  let stuck = await count(stopAt);
  let population: number | null | undefined;
  if (stuck.byProbe.size === 0) return { stuck, stopAt, population };
  // A share may raise a limit above maxTasks: with the population known, count on to the real limits.
  if (stopAt !== null && plan.probes.some((p, i) => p.hold?.maxShare != null && (stuck.byProbe.get(i)?.count ?? 0) > (p.hold.maxTasks ?? 0))) {
    population = await countInboxPopulation(db, plan.status);
    const next = levelStopAt(plan, population);
    if (next === null || next > stopAt) {
      stopAt = next;
      stuck = await count(stopAt);
    }
  }
  return { stuck, stopAt, population };
}

/** The hold: per probe, more stuck than max(maxTasks, maxShare × population) → none of it. */
async function levelHolds(db: Db, plan: StatusPlan, counted: Counted, releasing: boolean, result: SweepResult, options: SweepOptions): Promise<ProbeHolds> {
  const { stuck, stopAt } = counted;
  let { population } = counted;
  const off = new Set<number>();
  const released: number[] = [];
  for (const [index, count] of stuck.byProbe) {
    const hold = plan.probes[index]!.hold;
    if (hold === null || count.count <= (hold.maxTasks ?? 0)) continue;
    if (hold.maxShare !== null) population ??= await countInboxPopulation(db, plan.status);
    const decision = holdDecision(hold, count.count, population ?? 0);
    if (!decision?.held) continue;
    if (releasing) {
      released.push(index);
      continue;
    }
    off.add(index);
    // Counting stopped at a limit + 1: the probe has at least that many, maybe more.
    const atLeast = stopAt !== null && count.count > decision.limit;
    addHeld(result, plan, {
      workspaces: probeWorkspaces(plan.probes[index]!),
      stuck: atLeast ? decision.limit + 1 : count.count,
      ...(atLeast ? { atLeast: true } : {}),
      limit: decision.limit,
      maxTasks: hold.maxTasks,
      maxShare: hold.maxShare,
      population: hold.maxShare === null ? null : (population ?? null),
    });
  }
  const held = result.held[plan.statusName];
  if (held) {
    options.logger?.warn(
      { sweepId: result.sweepId, status: plan.statusName, dryRun: options.dryRun, ...held },
      `${options.dryRun ? "would hold" : "holding"} ${plan.statusName}: ${held.atLeast ? "at least " : ""}${held.stuck} stuck, more than the limit of ${held.limit}; acting on none of them (an outage?). ` +
        `It lifts by itself when fewer are stuck; after checking, release it for one sweep: watchdog sweep --release ${plan.statusName} --by <name>`,
    );
  }
  return { off, released };
}

/**
 * The rate hold of a revert rule: its reverts within the window plus what this sweep would revert
 * past the rate limit → none of the status. Returns the probes still acting; a release lets them
 * all through (added to `released`), a hold adds them all to `off`.
 */
async function rateHold(db: Db, plan: StatusPlan, rate: RateHold, acting: [number, StuckCount][], holds: ProbeHolds & { releasing: boolean }, result: SweepResult, options: SweepOptions): Promise<[number, StuckCount][]> {
  const wouldRevert = sum(acting.map(([, c]) => c.count));
  const history = await countRecentReverts(db, plan.status, rate.windowSeconds, rate.baselineSeconds);
  const decision = rateDecision(rate, history, wouldRevert);
  if (!decision.held) return acting;
  if (holds.releasing) {
    for (const [index] of acting) if (!holds.released.includes(index)) holds.released.push(index);
    return acting;
  }
  for (const [index] of acting) holds.off.add(index);
  const entry = (result.held[plan.statusName] ??= { stuck: 0, limit: 0, maxTasks: null, maxShare: null, population: null, probes: [] });
  entry.stuck += wouldRevert;
  entry.rate = { reverts: history.inWindow, wouldRevert, limit: decision.limit, maxReverts: rate.maxReverts, normalMultiple: rate.normalMultiple, normalPerWindow: decision.normalPerWindow, window: rate.window, baseline: rate.baseline };
  options.logger?.warn(
    { sweepId: result.sweepId, status: plan.statusName, dryRun: options.dryRun, rate: entry.rate },
    `${options.dryRun ? "would hold" : "holding"} ${plan.statusName}: ${history.inWindow} reverted in the last ${rate.window} and ${wouldRevert} more stuck, more than the rate limit of ${decision.limit} ` +
      `(the larger of ${rate.maxReverts} and ${rate.normalMultiple} × its normal ${decision.normalPerWindow} per ${rate.window} over the ${rate.baseline} before); acting on none of them (a slow outage?). ` +
      `It lifts by itself as the window moves on; after checking, release it for one sweep: watchdog sweep --release ${plan.statusName} --by <name>`,
  );
  return [];
}

/**
 * The status's batch statement, batch after batch, until fewer than a batch are left, `judged` tasks
 * are done (what the holds weighed; null: no hold weighed a count) or shutdown begins. With `rate`,
 * each batch is a transaction that first takes the status's revert-window lock and counts the
 * window: it reverts at most what is left of the limit, and none once the window is full — then
 * runBatches returns true.
 */
async function runBatches(db: Db, plan: StatusPlan, target: { thresholds: Thresholds; released: number[]; rate: RateHold | null; judged: number | null; asOf: Date | null }, result: SweepResult, options: SweepOptions): Promise<boolean> {
  const { thresholds, released, rate, judged, asOf } = target;
  const sizing = options.batchSizing ?? fixedBatchSize(options.batchSize);
  const input: BatchInput = {
    plan,
    thresholds,
    limit: sizing.size,
    asOf,
    sweepId: options.sweepId,
    release: released.length > 0 ? { probes: released, by: options.release!.by } : undefined,
  };
  const escalateAfter = options.escalateAfter ?? DEFAULT_ESCALATE_AFTER;
  let acted = 0;
  for (;;) {
    input.limit = judged === null ? sizing.size : Math.min(sizing.size, judged - acted);
    if (input.limit <= 0) break;
    const started = performance.now();
    const capMs = sizing.capMs;
    let ran: { outcomes: BatchOutcome[]; room: number };
    try {
      ran = await runBatch(db, input, escalateAfter, capMs, rate);
    } catch (error) {
      // Its cap or statement_timeout cancelled the batch, so none of it applied: try again, smaller.
      if (sqlState(error) === QUERY_CANCELED && sizing.timedOut(performance.now() - started)) {
        result.cancelledBatches[plan.statusName] = (result.cancelledBatches[plan.statusName] ?? 0) + 1;
        options.onBatchCancelled?.(plan);
        const fields = { sweepId: result.sweepId, status: plan.statusName, batchSize: input.limit, retryWith: sizing.size };
        // Past its cap: the budget doing its job (an info line); past the worker's statement timeout: a warning.
        if (capMs !== null) options.logger?.info({ ...fields, capMs }, `a batch of ${plan.statusName} would have run past its ${capMs} ms cap (from SWEEP_BATCH_TIME_BUDGET_MS): cancelled, nothing of it applied; retrying it with ${sizing.size} tasks`);
        else options.logger?.warn(fields, `a batch of ${plan.statusName} ran past statement_timeout; retrying it with ${sizing.size} tasks`);
        // The retry is a new batch: none starts once shutdown has begun.
        if (options.shouldStop?.()) {
          result.interrupted = true;
          break;
        }
        continue;
      }
      throw error;
    }
    // The window was full: no statement ran (nothing to time).
    if (ran.room <= 0) return true;
    sizing.observe(performance.now() - started);
    const { outcomes } = ran;
    const done = sum(outcomes.map((o) => o.count));
    acted += done;
    if (done > 0) {
      record(result, plan, outcomes);
      options.onBatch?.(plan, outcomes);
    }
    if (done < input.limit) {
      // A short batch: the status is drained — or a pause came in (each batch checks in its own statement).
      if (await isPausedNow(db, plan.status)) {
        result.pausedDuringSweep.push(plan.statusName);
        options.logger?.warn({ sweepId: result.sweepId, status: plan.statusName }, `a pause came in during the sweep: ${plan.statusName} stopped (no batch starts after a pause is committed); \`watchdog resume --by <name>\` lifts it`);
      }
      break;
    }
    if (options.shouldStop?.()) {
      result.interrupted = true;
      break;
    }
  }
  return false;
}

/**
 * One batch. Capped: the statement in a transaction of its own whose statement_timeout is the cap,
 * so it holds its locks no longer (two round trips more than autocommit: BEGIN + SET LOCAL, COMMIT).
 * Its commit is asynchronous (synchronous_commit off): the locks are not held through the WAL's flush.
 * A database crash may undo a batch whole; the next sweep redoes it, and nothing of it has left the
 * database: the outbox pins a batch of events with a synchronous commit, which flushes the WAL past it.
 * Under a rate hold, a transaction too, of three statements each within the cap (or, uncapped, the
 * connection's statement_timeout): the status's revert-window lock, the window's count, and the
 * statement limited to the room left in the window — none when it is full. `room` is Infinity
 * without a rate hold.
 */
async function runBatch(db: Db, input: BatchInput, escalateAfter: number, capMs: number | null, rate: RateHold | null): Promise<{ outcomes: BatchOutcome[]; room: number }> {
  let room = Infinity;
  const batch = async (q: Queries): Promise<BatchOutcome[]> => {
    if (rate !== null) {
      await lockRevertWindow(q, input.plan.status);
      const history = await countRecentReverts(q, input.plan.status, rate.windowSeconds, rate.baselineSeconds);
      room = rateDecision(rate, history, 0).limit - history.inWindow;
      if (room <= 0) return [];
      input.limit = Math.min(input.limit, room);
    }
    return act(q, input, escalateAfter);
  };
  const statements = rate === null ? 1 : 3;
  if (capMs === null && rate === null) return { outcomes: await act(db, input, escalateAfter), room };
  const outcomes =
    capMs === null
      ? await db.$transaction(batch, { timeout: statements * db.statementTimeoutMs + CLIENT_TIMEOUT_MARGIN_MS, synchronousCommit: false })
      : await db.$transaction(batch, { statementTimeoutMs: capMs, timeout: statements * capMs + CLIENT_TIMEOUT_MARGIN_MS, synchronousCommit: false });
  return { outcomes, room };
}

function act(db: Queries, input: BatchInput, escalateAfter: number): Promise<BatchOutcome[]> {
  switch (input.plan.action.kind) {
    case "revert":
      return revertStuckTasks(db, { ...input, escalateAfter });
    case "moveToHistory":
      return moveFinishedTasksToHistory(db, input);
    case "flag":
      return flagStuckTasks(db, input);
  }
}

function addHeld(result: SweepResult, plan: StatusPlan, probe: HeldProbe): void {
  const entry = (result.held[plan.statusName] ??= { stuck: 0, limit: 0, maxTasks: probe.maxTasks, maxShare: probe.maxShare, population: probe.population, probes: [] });
  entry.probes.push(probe);
  entry.stuck += probe.stuck;
  entry.limit += probe.limit;
  if (probe.atLeast) entry.atLeast = true;
  // The rule's own probe speaks for the status when it is held; otherwise the first held override.
  if (probe.workspaces === "others") Object.assign(entry, { maxTasks: probe.maxTasks, maxShare: probe.maxShare, population: probe.population });
}

function recordDryRun(result: SweepResult, plan: StatusPlan, counts: StuckCount[]): void {
  const count = sum(counts.map((c) => c.count));
  if (count === 0) return;
  const summary = record(result, plan, [{ toStatus: plan.action.kind === "revert" ? plan.action.to : null, count, escalated: 0, released: 0, sampleTaskIds: samples(counts) }]);
  for (const c of counts) {
    const oldest = c.oldestSince?.toISOString();
    if (oldest && (!summary.oldestSince || oldest < summary.oldestSince)) summary.oldestSince = oldest;
  }
  // A dry run cannot know a Deleting task's previous status without reading every row; say so.
  if (plan.action.kind === "revert" && plan.action.toPreviousIfStable) summary.to = { [`previous status if stable, else ${statusName(plan.action.to)}`]: summary.count };
}

function record(result: SweepResult, plan: StatusPlan, outcomes: BatchOutcome[]): StatusSummary {
  const summary = (result.byStatus[plan.statusName] ??= { action: plan.action.kind, count: 0, sampleTaskIds: [] });
  for (const o of outcomes) {
    summary.count += o.count;
    const dry = result.dryRun;
    if (plan.action.kind === "revert") {
      if (dry) result.wouldRevert! += o.count;
      else result.reverted += o.count;
      result.escalated += o.escalated;
      const to = statusName(o.toStatus ?? plan.status);
      summary.to = { ...summary.to, [to]: (summary.to?.[to] ?? 0) + o.count };
    } else if (plan.action.kind === "moveToHistory") {
      if (dry) result.wouldMoveToHistory! += o.count;
      else result.movedToHistory += o.count;
    } else if (dry) result.wouldFlag! += o.count;
    else result.flagged += o.count;
    if (o.released > 0 && !result.dryRun) {
      const entry = (result.released[plan.statusName] ??= { by: "", count: 0 });
      entry.count += o.released;
    }
    for (const id of o.sampleTaskIds) if (summary.sampleTaskIds.length < MAX_SAMPLE_IDS) summary.sampleTaskIds.push(id);
  }
  return summary;
}

const sum = (values: number[]) => values.reduce((n, v) => n + v, 0);
/** Oldest first: the probes in the order of their oldest stuck task. */
const samples = (counts: StuckCount[]) =>
  [...counts].sort((a, b) => (a.oldestSince?.getTime() ?? 0) - (b.oldestSince?.getTime() ?? 0)).flatMap((c) => c.sampleTaskIds).slice(0, MAX_SAMPLE_IDS);
