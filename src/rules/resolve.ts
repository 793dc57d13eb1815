// The ONE answer to "what applies to a task of this status in this workspace?": the action, the
// threshold, the hold and whether the sweep watches it. Every consumer asks here — the sweep plan,
// the reprocess guard, the read API's `stuck`, the metrics and the CLI — in JavaScript through
// resolve(), in SQL through thresholdRows() (one encoding, src/rules/threshold-rows-sql.ts).
// Pure: no I/O, no clock.
//
// Decisions:
// - A workspace override that names the workspace decides alone; otherwise the rule does.
// - The threshold is the override's own `stuckAfter` when it has one, else the rule's — also when
//   the override or the rule is switched off. Switching off stops the sweep acting; it does not make
//   machine work finish sooner, so the reprocess guard keeps judging "in flight" by that threshold.
// - `watched` is whether the sweep acts (and so whether the read API calls the task stuck).
// - `hold` is the level hold of the probe that applies (null when off or not watched).
import type { HoldLimit, Rule, RuleAction } from "./rules.js";

export interface Resolution {
  /** The status's rule; null when no rule covers the status (nothing judges it by age). */
  readonly rule: Rule | null;
  readonly action: RuleAction | null;
  /** The sweep acts on it: the override's `enabled` when one names the workspace, else the rule's. */
  readonly watched: boolean;
  /** The threshold in seconds (override's own, else the rule's); null only when no rule. Kept when switched off. */
  readonly stuckAfterSeconds: number | null;
  /** The same as written (ISO-8601), for people. */
  readonly stuckAfter: string | null;
  /** The level hold of the probe that applies; null when it has none or the sweep does not watch. */
  readonly hold: HoldLimit | null;
  /** Where the answer came from: the override naming the workspace (its index in rule.workspaces), the rule, or nothing. */
  readonly source: { readonly kind: "override"; readonly index: number } | { readonly kind: "rule" } | { readonly kind: "none" };
}

const NONE: Resolution = { rule: null, action: null, watched: false, stuckAfterSeconds: null, stuckAfter: null, hold: null, source: { kind: "none" } };

const byStatusCache = new WeakMap<readonly Rule[], Map<number, Rule>>();
function ruleOf(rules: readonly Rule[], status: number): Rule | undefined {
  let map = byStatusCache.get(rules);
  if (!map) byStatusCache.set(rules, (map = new Map(rules.map((r) => [r.status, r]))));
  return map.get(status);
}

export function resolve(rules: readonly Rule[], status: number, workspaceId: number): Resolution {
  const rule = ruleOf(rules, status);
  if (!rule) return NONE;
  const index = rule.workspaces.findIndex((o) => o.workspaceIds.includes(workspaceId));
  if (index >= 0) {
    const o = rule.workspaces[index]!;
    return { rule, action: rule.action, watched: o.enabled, stuckAfterSeconds: o.stuckAfterSeconds, stuckAfter: o.stuckAfter, hold: o.enabled ? o.hold : null, source: { kind: "override", index } };
  }
  return { rule, action: rule.action, watched: rule.enabled, stuckAfterSeconds: rule.stuckAfterSeconds, stuckAfter: rule.stuckAfter, hold: rule.enabled ? rule.hold : null, source: { kind: "rule" } };
}

/** "Is this task stuck now?": in the inbox, watched, and longer in its status than the threshold (strictly, as the sweep's `<`). */
export function isStuck(r: Resolution, task: { readonly location: "INBOX" | "HISTORY"; readonly secondsInStatus: number }): boolean {
  return task.location === "INBOX" && r.watched && r.stuckAfterSeconds !== null && task.secondsInStatus > r.stuckAfterSeconds;
}

/**
 * The resolution of every (status, workspace) as rows, for SQL: per rule one row per workspace an
 * override names, then one row with workspaceId null for every other workspace. A task's row is
 * the one naming its workspace, else its status's null row, else none (no rule) — exactly resolve().
 * `probe` is the index of the probe in probeOrder (overrides that are on, in order, then the rule
 * when on), -1 when not watched.
 */
export interface ThresholdRows {
  readonly statuses: number[];
  readonly workspaceIds: (number | null)[];
  readonly seconds: number[];
  readonly watched: boolean[];
  readonly probes: number[];
}

const rowsCache = new WeakMap<readonly Rule[], ThresholdRows>();

export function thresholdRows(rules: readonly Rule[]): ThresholdRows {
  let rows = rowsCache.get(rules);
  if (!rows) rowsCache.set(rules, (rows = buildRows(rules)));
  return rows;
}

function buildRows(rules: readonly Rule[]): ThresholdRows {
  const out: ThresholdRows = { statuses: [], workspaceIds: [], seconds: [], watched: [], probes: [] };
  for (const rule of rules) {
    let next = 0;
    for (const o of rule.workspaces) {
      const probe = o.enabled ? next++ : -1;
      for (const id of o.workspaceIds) push(out, rule.status, id, o.stuckAfterSeconds, o.enabled, probe);
    }
    push(out, rule.status, null, rule.stuckAfterSeconds, rule.enabled, rule.enabled ? next : -1);
  }
  return out;
}

function push(out: ThresholdRows, status: number, workspaceId: number | null, seconds: number, watched: boolean, probe: number): void {
  out.statuses.push(status);
  out.workspaceIds.push(workspaceId);
  out.seconds.push(seconds);
  out.watched.push(watched);
  out.probes.push(probe);
}

/** The rows of one status only (a sweep statement covers one status). */
export function thresholdRowsOf(rows: ThresholdRows, status: number): ThresholdRows {
  const out: ThresholdRows = { statuses: [], workspaceIds: [], seconds: [], watched: [], probes: [] };
  rows.statuses.forEach((s, i) => {
    if (s === status) push(out, s, rows.workspaceIds[i]!, rows.seconds[i]!, rows.watched[i]!, rows.probes[i]!);
  });
  return out;
}
