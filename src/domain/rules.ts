// What counts as stuck, and where a stuck task goes (docs/contract.md, "Rules"). Pure: no I/O, no clock.
import { describeStatuses, findStatus, statusName, TaskStatus, type StatusInfo } from "./status.js";
import { parsePositiveDuration } from "./duration.js";

export type RuleAction =
  /** Set `to`; with `toPreviousIfStable`, go back to previous_status instead when that is stable. */
  | { readonly kind: "revert"; readonly to: number; readonly toPreviousIfStable: boolean }
  | { readonly kind: "moveToHistory" }
  /** Report-only: the warning and one FLAGGED event per stuck episode; the status stays. */
  | { readonly kind: "flag" };

/**
 * The circuit breaker of one probe (a rule, or one of its workspace overrides): when more tasks
 * are stuck than max(maxTasks, maxShare × the status's inbox population), the sweep acts on none
 * of them and reports the probe as held. A null field is no such limit; one of the two is set.
 */
export interface HoldLimit {
  readonly maxTasks: number | null;
  readonly maxShare: number | null;
}

/**
 * The default hold of a revert rule. 500: more stuck tasks than a busy night's stragglers, and as
 * many paid restarts as we let an unseen outage cost. 0.1: the share only raises the limit for a
 * status with more than 5,000 tasks in the inbox; it must stay small because an outage of a stage
 * that still takes new work leaves only part of its population stuck (a 3 h outage behind a 2 h
 * threshold: a third of it), and a larger share would let such an outage through.
 */
export const DEFAULT_HOLD: HoldLimit = { maxTasks: 500, maxShare: 0.1 };

/**
 * The hold a rule gets when it says nothing: on for reverts (each is a restart someone pays for);
 * off for move-to-history (the task is finished, its status stays) and flag (changes nothing but
 * the warning), where a large count after a stopped watchdog is expected, not an outage.
 */
export function defaultHoldFor(action: RuleAction): HoldLimit | null {
  return action.kind === "revert" ? DEFAULT_HOLD : null;
}

export interface WorkspaceOverride {
  readonly workspaceIds: readonly number[];
  readonly enabled: boolean;
  readonly stuckAfter: string;
  readonly stuckAfterSeconds: number;
  /** The override's own limit; when the rules omit it, the rule's. */
  readonly hold: HoldLimit | null;
}

export interface Rule {
  readonly status: number;
  readonly enabled: boolean;
  readonly stuckAfter: string;
  readonly stuckAfterSeconds: number;
  readonly action: RuleAction;
  readonly hold: HoldLimit | null;
  readonly workspaces: readonly WorkspaceOverride[];
}

export class RulesError extends Error {
  override name = "RulesError";
  constructor(readonly problems: readonly string[], options?: ErrorOptions) {
    super(`invalid rules:\n  - ${problems.join("\n  - ")}`, options);
  }
}

interface DefaultRule {
  status: number;
  stuckAfter: string;
  action: RuleAction;
}

const revert = (to: number, toPreviousIfStable = false): RuleAction => ({ kind: "revert", to, toPreviousIfStable });
const S = TaskStatus;

export const DEFAULT_RULES: readonly DefaultRule[] = [
  { status: S.Deleting, stuckAfter: "PT1H", action: revert(S.PreProcessingFailed, true) },
  { status: S.QueuedForPreProcessing, stuckAfter: "PT2H", action: revert(S.PreProcessingFailed) },
  { status: S.PreProcessingInProgress, stuckAfter: "PT2H", action: revert(S.PreProcessingFailed) },
  { status: S.PreProcessingSuccessful, stuckAfter: "PT1H", action: revert(S.ProcessingFailed) },
  { status: S.QueuedForProcessing, stuckAfter: "PT2H", action: revert(S.ProcessingFailed) },
  { status: S.ProcessingInProgress, stuckAfter: "PT4H", action: revert(S.ProcessingFailed) },
  { status: S.QueuedForExport, stuckAfter: "PT1H", action: revert(S.ToReview) },
  { status: S.ExportInProgress, stuckAfter: "PT1H", action: revert(S.ToReview) },
  { status: S.ExportCompleted, stuckAfter: "PT24H", action: { kind: "moveToHistory" } },
  { status: S.Processed, stuckAfter: "PT24H", action: { kind: "moveToHistory" } },
];

/**
 * Overrides as they come from a rules file or RULES_JSON, keyed by status name or code:
 * { "ProcessingInProgress": { "stuckAfter": "PT6H", "workspaces": [{ "workspaceIds": [7], "stuckAfter": "PT1H" }] } }
 */
export type RuleOverrides = Record<string, unknown>;

const RULE_FIELDS = new Set(["enabled", "stuckAfter", "action", "revertTo", "revertToPreviousIfStable", "hold", "workspaces"]);
const OVERRIDE_FIELDS = new Set(["workspaceIds", "enabled", "stuckAfter", "hold"]);
const HOLD_FIELDS = new Set(["maxTasks", "maxShare"]);
const HOLD_EXAMPLE = `false, true (the defaults) or {"maxTasks": 500, "maxShare": 0.1}`;

/**
 * The effective rules: the defaults with `overrides` applied, checked against the invariants of
 * docs/contract.md ("Rules"). Throws RulesError listing every problem, each naming its rule and how to fix it.
 */
export function buildRules(overrides: RuleOverrides = {}): Rule[] {
  const problems: string[] = [];
  const merged = new Map<number, { status: number; enabled: unknown; stuckAfter: unknown; action: unknown; revertTo: unknown; revertToPreviousIfStable: unknown; hold: unknown; workspaces: unknown }>();
  for (const d of DEFAULT_RULES) {
    merged.set(d.status, {
      status: d.status,
      enabled: true,
      stuckAfter: d.stuckAfter,
      action: d.action.kind,
      revertTo: d.action.kind === "revert" ? d.action.to : undefined,
      revertToPreviousIfStable: d.action.kind === "revert" ? d.action.toPreviousIfStable : undefined,
      hold: undefined,
      workspaces: [],
    });
  }

  if (typeof overrides !== "object" || overrides === null || Array.isArray(overrides)) {
    throw new RulesError([`the rules must be an object keyed by status name, e.g. {"ProcessingInProgress": {"stuckAfter": "PT6H"}}`]);
  }
  for (const [key, value] of Object.entries(overrides)) {
    const status = findStatus(key);
    if (!status) {
      problems.push(`rule "${key}": unknown status; use a TaskStatus name or code, e.g. "ProcessingInProgress" or "41"`);
      continue;
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      problems.push(`rule "${status.name}": expected an object such as {"stuckAfter": "PT2H"}, got ${JSON.stringify(value)}`);
      continue;
    }
    const fields = value as Record<string, unknown>;
    const unknown = Object.keys(fields).filter((f) => !RULE_FIELDS.has(f));
    if (unknown.length > 0) {
      problems.push(`rule "${status.name}": unknown field(s) ${unknown.map((f) => `"${f}"`).join(", ")}; allowed: ${[...RULE_FIELDS].join(", ")}`);
      continue;
    }
    const base = merged.get(status.code) ?? {
      status: status.code,
      enabled: true,
      stuckAfter: undefined,
      action: status.kind === "archivable" ? "moveToHistory" : "revert",
      revertTo: undefined,
      revertToPreviousIfStable: false,
      hold: undefined,
      workspaces: [],
    };
    const next = { ...base, ...fields };
    // Choosing a new target without saying otherwise means exactly that target.
    if ("revertTo" in fields && !("revertToPreviousIfStable" in fields)) next.revertToPreviousIfStable = false;
    merged.set(status.code, next);
  }

  const rules: Rule[] = [];
  for (const raw of [...merged.values()].sort((a, b) => a.status - b.status)) {
    const rule = checkRule(raw, findStatus(raw.status) as StatusInfo, problems);
    if (rule) rules.push(rule);
  }
  if (problems.length > 0) throw new RulesError(problems);
  return rules;
}

function checkRule(raw: Record<string, unknown>, status: StatusInfo, problems: string[]): Rule | undefined {
  const where = `rule "${status.name}"`;
  const before = problems.length;
  if (status.kind === "stable") {
    problems.push(`${where}: ${status.name} is a stable status (a person acts on it); the sweep never touches it. Remove the rule`);
    return undefined;
  }
  if (typeof raw.enabled !== "boolean") problems.push(`${where}: "enabled" must be true or false, got ${JSON.stringify(raw.enabled)}`);

  const threshold = parsePositiveDuration(raw.stuckAfter);
  if ("error" in threshold) problems.push(`${where}: "stuckAfter" ${threshold.error}, got ${JSON.stringify(raw.stuckAfter)}`);

  let action: RuleAction | undefined;
  if (raw.action === "moveToHistory") {
    if (status.kind !== "archivable") {
      problems.push(`${where}: only archivable statuses (${describeStatuses("archivable")}) can be moved to history; use "action": "revert" with a stable "revertTo"`);
    } else {
      action = { kind: "moveToHistory" };
    }
  } else if (raw.action === "revert") {
    const target = raw.revertTo === undefined ? undefined : findStatus(raw.revertTo as string | number);
    if (!target) {
      problems.push(`${where}: "revertTo" must name a stable status (${describeStatuses("stable")}), got ${JSON.stringify(raw.revertTo)}`);
    } else if (target.kind !== "stable") {
      problems.push(`${where}: cannot revert to ${target.name} (${target.code}), a ${target.kind} status; a revert target must be stable: ${describeStatuses("stable")}`);
    } else if (typeof raw.revertToPreviousIfStable !== "boolean") {
      problems.push(`${where}: "revertToPreviousIfStable" must be true or false, got ${JSON.stringify(raw.revertToPreviousIfStable)}`);
    } else {
      action = { kind: "revert", to: target.code, toPreviousIfStable: raw.revertToPreviousIfStable };
    }
  } else if (raw.action === "flag") {
    action = { kind: "flag" };
  } else {
    problems.push(`${where}: "action" must be "revert", "moveToHistory" or "flag", got ${JSON.stringify(raw.action)}`);
  }

  const hold = action ? checkHold(raw.hold, defaultHoldFor(action), where, problems) : undefined;
  const workspaces = checkWorkspaceOverrides(raw.workspaces, where, hold ?? null, problems);
  if (problems.length > before || !action || "error" in threshold || !workspaces || hold === undefined) return undefined;
  return {
    status: status.code,
    enabled: raw.enabled as boolean,
    stuckAfter: String(raw.stuckAfter),
    stuckAfterSeconds: threshold.seconds,
    action,
    hold,
    workspaces,
  };
}

/**
 * `hold` as written: omitted → `inherited`; false → off; true → the defaults; an object names the
 * limits it sets (an omitted field is no such limit). undefined = refused (the problem is listed).
 */
function checkHold(raw: unknown, inherited: HoldLimit | null, where: string, problems: string[]): HoldLimit | null | undefined {
  if (raw === undefined) return inherited;
  if (raw === false || raw === null) return null;
  if (raw === true) return DEFAULT_HOLD;
  if (typeof raw !== "object" || Array.isArray(raw)) {
    problems.push(`${where}: "hold" must be ${HOLD_EXAMPLE}, got ${JSON.stringify(raw)}`);
    return undefined;
  }
  const fields = raw as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((f) => !HOLD_FIELDS.has(f));
  if (unknown.length > 0) {
    problems.push(`${where}: "hold" has unknown field(s) ${unknown.map((f) => `"${f}"`).join(", ")}; allowed: ${[...HOLD_FIELDS].join(", ")}`);
    return undefined;
  }
  const maxTasks = fields.maxTasks ?? null;
  const maxShare = fields.maxShare ?? null;
  const before = problems.length;
  if (maxTasks !== null && !(Number.isSafeInteger(maxTasks) && (maxTasks as number) >= 0 && (maxTasks as number) <= 2_147_483_647)) {
    problems.push(`${where}: "hold.maxTasks" must be a whole number from 0 to 2147483647, got ${JSON.stringify(fields.maxTasks)}`);
  }
  if (maxShare !== null && !(typeof maxShare === "number" && maxShare > 0 && maxShare <= 1)) {
    problems.push(`${where}: "hold.maxShare" must be a number above 0 and at most 1 (a share of the status's inbox tasks), got ${JSON.stringify(fields.maxShare)}`);
  }
  if (maxTasks === null && maxShare === null) {
    problems.push(`${where}: "hold" sets no limit; give "maxTasks" and/or "maxShare", or write "hold": false to switch it off`);
  }
  if (problems.length > before) return undefined;
  return { maxTasks: maxTasks as number | null, maxShare: maxShare as number | null };
}

function checkWorkspaceOverrides(raw: unknown, where: string, ruleHold: HoldLimit | null, problems: string[]): WorkspaceOverride[] | undefined {
  if (!Array.isArray(raw)) {
    problems.push(`${where}: "workspaces" must be a list such as [{"workspaceIds": [7], "stuckAfter": "PT30M"}]`);
    return undefined;
  }
  const seen = new Set<number>();
  const result: WorkspaceOverride[] = [];
  raw.forEach((entry: unknown, i) => {
    const at = `${where} workspaces[${i}]`;
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      problems.push(`${at}: expected an object such as {"workspaceIds": [7], "stuckAfter": "PT30M"}`);
      return;
    }
    const o = entry as Record<string, unknown>;
    const unknown = Object.keys(o).filter((f) => !OVERRIDE_FIELDS.has(f));
    if (unknown.length > 0) {
      problems.push(`${at}: unknown field(s) ${unknown.map((f) => `"${f}"`).join(", ")}; allowed: ${[...OVERRIDE_FIELDS].join(", ")}`);
      return;
    }
    const ids = o.workspaceIds;
    if (!Array.isArray(ids) || ids.length === 0 || !ids.every((id) => Number.isSafeInteger(id) && id > 0 && id <= 2_147_483_647)) {
      problems.push(`${at}: "workspaceIds" must be a non-empty list of positive integer workspace ids, got ${JSON.stringify(ids)}`);
      return;
    }
    for (const id of ids as number[]) {
      if (seen.has(id)) problems.push(`${at}: workspace ${id} appears in more than one override of this rule; list it once`);
      seen.add(id);
    }
    const enabled = o.enabled ?? true;
    if (typeof enabled !== "boolean") {
      problems.push(`${at}: "enabled" must be true or false, got ${JSON.stringify(o.enabled)}`);
      return;
    }
    let stuckAfter = "";
    let stuckAfterSeconds = 0;
    if (enabled || o.stuckAfter !== undefined) {
      const t = parsePositiveDuration(o.stuckAfter);
      if ("error" in t) {
        problems.push(`${at}: "stuckAfter" ${t.error}, got ${JSON.stringify(o.stuckAfter)}`);
        return;
      }
      stuckAfter = String(o.stuckAfter);
      stuckAfterSeconds = t.seconds;
    }
    const hold = checkHold(o.hold, ruleHold, at, problems);
    if (hold === undefined) return;
    result.push({ workspaceIds: [...(ids as number[])], enabled, stuckAfter, stuckAfterSeconds, hold });
  });
  return result;
}

/**
 * One index-bound probe of the sweep: tasks in `status`, in the inbox, whose status is older
 * than `stuckAfterSeconds`, limited to `onlyWorkspaceIds` (when set) and never in `exceptWorkspaceIds`.
 * A rule yields one probe per enabled workspace override, plus one for every other workspace.
 */
export interface Probe {
  readonly status: number;
  readonly statusName: string;
  readonly stuckAfterSeconds: number;
  readonly onlyWorkspaceIds: readonly number[] | null;
  readonly exceptWorkspaceIds: readonly number[];
  readonly action: RuleAction;
  readonly hold: HoldLimit | null;
}

export function probesFor(rules: readonly Rule[]): Probe[] {
  const probes: Probe[] = [];
  for (const rule of rules) {
    const common = { status: rule.status, statusName: statusName(rule.status), action: rule.action };
    for (const o of rule.workspaces) {
      if (o.enabled) probes.push({ ...common, stuckAfterSeconds: o.stuckAfterSeconds, onlyWorkspaceIds: o.workspaceIds, exceptWorkspaceIds: [], hold: o.hold });
    }
    if (rule.enabled) {
      probes.push({
        ...common,
        stuckAfterSeconds: rule.stuckAfterSeconds,
        onlyWorkspaceIds: null,
        exceptWorkspaceIds: rule.workspaces.flatMap((o) => o.workspaceIds),
        hold: rule.hold,
      });
    }
  }
  return probes;
}

/** Where a stuck task goes, in words: "ProcessingFailed (42)", "previous status if stable, else PreProcessingFailed (32)". */
export function describeAction(action: RuleAction): string {
  if (action.kind === "moveToHistory") return "move to history (status unchanged)";
  if (action.kind === "flag") return "flag only (warning and a FLAGGED event, status unchanged)";
  const to = `${statusName(action.to)} (${action.to})`;
  return action.toPreviousIfStable ? `revert to previous_status when stable, else ${to}` : `revert to ${to}`;
}
