// What counts as stuck, and where a stuck task goes (SPEC §3). Pure: no I/O, no clock.
import { describeStatuses, findStatus, statusName, TaskStatus, type StatusInfo } from "./status.js";
import { parsePositiveDuration } from "./duration.js";

export type RuleAction =
  /** Set `to`; with `toPreviousIfStable`, go back to previous_status instead when that is stable. */
  | { readonly kind: "revert"; readonly to: number; readonly toPreviousIfStable: boolean }
  | { readonly kind: "moveToHistory" };

export interface WorkspaceOverride {
  readonly workspaceIds: readonly number[];
  readonly enabled: boolean;
  readonly stuckAfter: string;
  readonly stuckAfterSeconds: number;
}

export interface Rule {
  readonly status: number;
  readonly enabled: boolean;
  readonly stuckAfter: string;
  readonly stuckAfterSeconds: number;
  readonly action: RuleAction;
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

const RULE_FIELDS = new Set(["enabled", "stuckAfter", "action", "revertTo", "revertToPreviousIfStable", "workspaces"]);
const OVERRIDE_FIELDS = new Set(["workspaceIds", "enabled", "stuckAfter"]);

/**
 * The effective rules: the defaults with `overrides` applied, checked against the invariants of
 * SPEC §3. Throws RulesError listing every problem, each naming its rule and how to fix it.
 */
export function buildRules(overrides: RuleOverrides = {}): Rule[] {
  const problems: string[] = [];
  const merged = new Map<number, { status: number; enabled: unknown; stuckAfter: unknown; action: unknown; revertTo: unknown; revertToPreviousIfStable: unknown; workspaces: unknown }>();
  for (const d of DEFAULT_RULES) {
    merged.set(d.status, {
      status: d.status,
      enabled: true,
      stuckAfter: d.stuckAfter,
      action: d.action.kind,
      revertTo: d.action.kind === "revert" ? d.action.to : undefined,
      revertToPreviousIfStable: d.action.kind === "revert" ? d.action.toPreviousIfStable : undefined,
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
  } else {
    problems.push(`${where}: "action" must be "revert" or "moveToHistory", got ${JSON.stringify(raw.action)}`);
  }

  const workspaces = checkWorkspaceOverrides(raw.workspaces, where, problems);
  if (problems.length > before || !action || "error" in threshold || !workspaces) return undefined;
  return {
    status: status.code,
    enabled: raw.enabled as boolean,
    stuckAfter: String(raw.stuckAfter),
    stuckAfterSeconds: threshold.seconds,
    action,
    workspaces,
  };
}

function checkWorkspaceOverrides(raw: unknown, where: string, problems: string[]): WorkspaceOverride[] | undefined {
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
    result.push({ workspaceIds: [...(ids as number[])], enabled, stuckAfter, stuckAfterSeconds });
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
}

export function probesFor(rules: readonly Rule[]): Probe[] {
  const probes: Probe[] = [];
  for (const rule of rules) {
    const common = { status: rule.status, statusName: statusName(rule.status), action: rule.action };
    for (const o of rule.workspaces) {
      if (o.enabled) probes.push({ ...common, stuckAfterSeconds: o.stuckAfterSeconds, onlyWorkspaceIds: o.workspaceIds, exceptWorkspaceIds: [] });
    }
    if (rule.enabled) {
      probes.push({
        ...common,
        stuckAfterSeconds: rule.stuckAfterSeconds,
        onlyWorkspaceIds: null,
        exceptWorkspaceIds: rule.workspaces.flatMap((o) => o.workspaceIds),
      });
    }
  }
  return probes;
}

/** Where a stuck task goes, in words: "ProcessingFailed (42)", "previous status if stable, else PreProcessingFailed (32)". */
export function describeAction(action: RuleAction): string {
  if (action.kind === "moveToHistory") return "move to history (status unchanged)";
  const to = `${statusName(action.to)} (${action.to})`;
  return action.toPreviousIfStable ? `revert to previous_status when stable, else ${to}` : `revert to ${to}`;
}
