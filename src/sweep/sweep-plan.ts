// What one sweep asks of each status, as data: the thresholds of a rule and of all its workspace
// overrides go to the database as arrays, so a status costs one statement however many overrides
// it has. Pure: no I/O, no clock.
import type { HoldLimit, Probe, Rule, RuleAction } from "../rules/rules.js";
import { probesFor } from "../rules/rules.js";
import { statusName } from "../rules/status.js";

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
  for (const rule of rules) {
    const probes = probesFor([rule]);
    if (probes.length === 0) continue;
    const workspaceIds: number[] = [];
    const seconds: (number | null)[] = [];
    const probeOf: number[] = [];
    let next = 0;
    for (const o of rule.workspaces) {
      const index = o.enabled ? next++ : -1;
      for (const id of o.workspaceIds) {
        workspaceIds.push(id);
        seconds.push(o.enabled ? o.stuckAfterSeconds : null);
        probeOf.push(index);
      }
    }
    const thresholds: Thresholds = {
      defaultSeconds: rule.enabled ? rule.stuckAfterSeconds : null,
      defaultProbe: rule.enabled ? next : -1,
      workspaceIds,
      seconds,
      probeOf,
    };
    plans.push({ status: rule.status, statusName: statusName(rule.status), action: rule.action, probes, thresholds, minSeconds: Math.min(...probes.map((p) => p.stuckAfterSeconds)) });
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

/** A probe's workspaces, for people and results: "others" (the rule's own) or the listed ids. */
export function probeWorkspaces(probe: Probe): number[] | "others" {
  return probe.onlyWorkspaceIds === null ? "others" : [...probe.onlyWorkspaceIds];
}
