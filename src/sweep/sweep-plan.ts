// What one sweep asks of each status, as data: the resolver's rows of the status
// (src/rules/resolve.ts, thresholdRows) go to the database as arrays, so a status costs one
// statement however many overrides it has. Pure: no I/O, no clock.
import type { HoldLimit, Probe, RateHold, Rule, RuleAction } from "../rules/rules.js";
import { probesFor } from "../rules/rules.js";
import { statusName } from "../rules/status.js";
import { thresholdRows, thresholdRowsOf } from "../rules/resolve.js";

/** The thresholds of one status: the rule's for every other workspace, and one per listed workspace. */
export interface Thresholds {
  /** Seconds for workspaces without an override; null = the rule is off for them. */
  readonly defaultSeconds: number | null;
  /** Index in StatusPlan.probes of the rule's own probe (-1 when the rule is off). */
  readonly defaultProbe: number;
  /** Parallel arrays, one entry per overridden workspace; seconds null = off there. */
  readonly workspaceIds: readonly number[];
  readonly seconds: readonly (number | null)[];
  readonly probeOf: readonly number[];
  /**
   * True: exactly the listed workspaces, nothing else (the rule's own seconds unused). A sweep acts
   * on the workspaces its count found stuck, so its batches need not look at the others again.
   */
  readonly onlyListed?: boolean;
  /**
   * True: one threshold for every workspace (the rule's; the status has no overrides). A batch then
   * takes the status's oldest stuck rows through one range of tasks_inbox_status_changed_at_idx,
   * not one range per stuck workspace: the same rows, without a lateral scan per workspace.
   */
  readonly everyWorkspace?: boolean;
}

/** The plan's thresholds marked `everyWorkspace`, when they are one threshold for all; else null. */
export function everyWorkspaceThresholds(t: Thresholds): Thresholds | null {
  return t.workspaceIds.length === 0 && t.defaultSeconds !== null && !t.onlyListed ? { ...t, everyWorkspace: true } : null;
}

/** The thresholds of exactly these (stuck) workspaces. */
export function listedThresholds(workspaces: readonly { workspaceId: number; seconds: number; probe: number }[]): Thresholds {
  return {
    defaultSeconds: null,
    defaultProbe: -1,
    workspaceIds: workspaces.map((w) => w.workspaceId),
    seconds: workspaces.map((w) => w.seconds),
    probeOf: workspaces.map((w) => w.probe),
    onlyListed: true,
  };
}

export interface StatusPlan {
  readonly status: number;
  readonly statusName: string;
  readonly action: RuleAction;
  /** The rule's enabled probes: its overrides (in order), then the rule itself for every other workspace. */
  readonly probes: readonly Probe[];
  readonly thresholds: Thresholds;
  /** The shortest enabled threshold: nothing younger can be stuck. */
  readonly minSeconds: number;
  /** The status's rate hold (revert rules), or null. */
  readonly rateHold: RateHold | null;
}

const cache = new WeakMap<readonly Rule[], StatusPlan[]>();

/**
 * One plan per rule that has at least one enabled probe, in rule order. Rules are immutable once
 * loaded, so the plans of one rules array are built once (thousands of overrides take a while).
 */
export function statusPlansFor(rules: readonly Rule[]): StatusPlan[] {
  let plans = cache.get(rules);
  if (!plans) cache.set(rules, (plans = buildPlans(rules)));
  return plans;
}

function buildPlans(rules: readonly Rule[]): StatusPlan[] {
  const plans: StatusPlan[] = [];
  const all = thresholdRows(rules);
  for (const rule of rules) {
    const probes = probesFor([rule]);
    if (probes.length === 0) continue;
    // The resolver's rows of this status: per overridden workspace, its threshold where watched
    // (null = off there) and its probe; the null row is every other workspace.
    const rows = thresholdRowsOf(all, rule.status);
    const workspaceIds: number[] = [];
    const seconds: (number | null)[] = [];
    const probeOf: number[] = [];
    let defaultSeconds: number | null = null;
    let defaultProbe = -1;
    rows.statuses.forEach((_, i) => {
      const workspaceId = rows.workspaceIds[i];
      const watchedSeconds = rows.watched[i] ? rows.seconds[i]! : null;
      if (workspaceId === null || workspaceId === undefined) {
        defaultSeconds = watchedSeconds;
        defaultProbe = rows.probes[i]!;
      } else {
        workspaceIds.push(workspaceId);
        seconds.push(watchedSeconds);
        probeOf.push(rows.probes[i]!);
      }
    });
    const thresholds: Thresholds = { defaultSeconds, defaultProbe, workspaceIds, seconds, probeOf };
    plans.push({
      status: rule.status,
      statusName: statusName(rule.status),
      action: rule.action,
      probes,
      thresholds,
      minSeconds: Math.min(...probes.map((p) => p.stuckAfterSeconds)),
      rateHold: rule.rateHold,
    });
  }
  return plans;
}

/** True when every probe is switched off: the status has nothing to act on. */
export function allOff(t: Thresholds): boolean {
  return t.defaultSeconds === null && t.seconds.every((s) => s === null);
}

/** How many tasks a probe may act on in one sweep: max(maxTasks, floor(maxShare × population)). */
export function holdLimit(hold: HoldLimit, population: number): number {
  return Math.max(hold.maxTasks ?? 0, hold.maxShare === null ? 0 : Math.floor(hold.maxShare * population));
}

/** Whether a probe with `stuck` tasks is held; null when it has no limit. */
export function holdDecision(hold: HoldLimit | null, stuck: number, population: number): { held: boolean; limit: number } | null {
  if (hold === null) return null;
  const limit = holdLimit(hold, population);
  return { held: stuck > limit, limit };
}

/** The status's reverts as the rate hold counts them: within its window, and over the baseline before it. */
export interface RevertHistory {
  readonly inWindow: number;
  readonly inBaseline: number;
}

export interface RateDecision {
  readonly held: boolean;
  /** max(maxReverts, floor(normalMultiple × normalPerWindow)). */
  readonly limit: number;
  /** The status's normal reverts per window: its baseline's, scaled to one window. */
  readonly normalPerWindow: number;
}

/**
 * The rate hold: held when the reverts within the window plus the `wouldRevert` of this sweep
 * would pass the limit, so the reverts of any window never pass it (a release aside).
 */
export function rateDecision(rate: RateHold, history: RevertHistory, wouldRevert: number): RateDecision {
  const normalPerWindow = (history.inBaseline * rate.windowSeconds) / rate.baselineSeconds;
  const limit = Math.max(rate.maxReverts, Math.floor(rate.normalMultiple * normalPerWindow));
  return { held: history.inWindow + wouldRevert > limit, limit, normalPerWindow: Math.round(normalPerWindow * 100) / 100 };
}

/** A probe's workspaces, for people and results: "others" (the rule's own) or the listed ids. */
export function probeWorkspaces(probe: Probe): number[] | "others" {
  return probe.onlyWorkspaceIds === null ? "others" : [...probe.onlyWorkspaceIds];
}
