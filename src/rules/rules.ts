// What counts as stuck, and where a stuck task goes (docs/contract.md, "Rules"). Pure: no I/O, no clock.
import { describeStatuses, findStatus, statusName, TaskStatus, type StatusInfo } from "./status.js";
import { parsePositiveDuration } from "./duration.js";
import { formatIssues } from "../platform/zod-issues.js";
import { RULES_SHAPE_EXAMPLE, ruleOverrideSchema, rulesWrapperSchema, type RuleOverride } from "./rules-schema.js";

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

/**
 * The rate hold of a revert rule (per status, all workspaces together): a sweep reverts none of the
 * status's stuck tasks when its reverts within the last `window`, plus what it would revert now,
 * would pass max(maxReverts, floor(normalMultiple × the status's normal reverts per window)), the
 * normal rate being its reverts over the `baseline` before the window, scaled to one window.
 * It catches the slow burn the level hold cannot see: an upstream stage failing a few hundred
 * tasks per interval, each sweep draining what is stuck (docs/safety.md, "Rate hold").
 */
export interface RateHold {
  readonly maxReverts: number;
  readonly normalMultiple: number;
  readonly window: string;
  readonly windowSeconds: number;
  readonly baseline: string;
  readonly baselineSeconds: number;
}

/**
 * 1000 per hour: twice the level hold's 500, so a busy hour of ordinary stragglers passes, while a
 * stage failing 300 tasks every 5 minutes (3,600 an hour) is held within its fourth interval. ×3
 * the status's normal hourly rate over the day before: a status that normally sees many reverts
 * (a flaky but known stage) is judged against its own normal, not a fixed number.
 */
export const DEFAULT_RATE_HOLD: RateHold = { maxReverts: 1000, normalMultiple: 3, window: "PT1H", windowSeconds: 3600, baseline: "P1D", baselineSeconds: 86_400 };

export interface WorkspaceOverride {
  readonly workspaceIds: readonly number[];
  readonly enabled: boolean;
  /** The override's own threshold, else (a switched-off override that names none) the rule's. */
  readonly stuckAfter: string;
  readonly stuckAfterSeconds: number;
  /** False when stuckAfter is the rule's (the override named none). */
  readonly ownStuckAfter: boolean;
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
  /** The status's rate hold (revert rules only; null when off). */
  readonly rateHold: RateHold | null;
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
 * Overrides as they come from a rules file or RULES_JSON, keyed by status name or code (the shape
 * is src/rules/rules-schema.ts; docs/rules.schema.json is generated from it):
 * { "ProcessingInProgress": { "stuckAfter": "PT6H", "workspaces": [{ "workspaceIds": [7], "stuckAfter": "PT1H" }] } }
 * or the same inside `{ "rules": … }`.
 */
export type RuleOverrides = Record<string, unknown>;

/** One source of overrides; later layers override the fields they name of earlier ones. */
export interface RulesLayer {
  /** Named in every message about this layer ("RULES_FILE (rules.json)", "RULES_JSON"). */
  readonly source?: string;
  readonly overrides: unknown;
}

/** A rule with every layer applied, before its fields are judged together. */
type MergedRule = Omit<RuleOverride, "enabled"> & { enabled: boolean };

/** The effective rules: the defaults with `overrides` applied. Throws RulesError listing every problem. */
export function buildRules(overrides: RuleOverrides = {}): Rule[] {
  return buildRulesFromLayers([{ overrides }]);
}

/**
 * The defaults, then each layer in turn: a layer overrides only the fields it names of a rule (a
 * `workspaces` list or a `hold` object replaces the lower one whole). Then each rule is checked
 * against the invariants of docs/contract.md ("Rules"). Throws RulesError listing every problem,
 * each naming its source, its rule and how to fix it.
 */
export function buildRulesFromLayers(layers: readonly RulesLayer[]): Rule[] {
  const problems: string[] = [];
  const merged = new Map<number, MergedRule>();
  for (const d of DEFAULT_RULES) {
    merged.set(d.status, {
      enabled: true,
      stuckAfter: { text: d.stuckAfter, seconds: (parsePositiveDuration(d.stuckAfter) as { seconds: number }).seconds },
      action: d.action.kind,
      ...(d.action.kind === "revert" ? { revertTo: d.action.to, revertToPreviousIfStable: d.action.toPreviousIfStable } : {}),
      workspaces: [],
    });
  }
  for (const layer of layers) {
    for (const [code, fields] of parseLayer(layer, problems)) {
      const base = merged.get(code) ?? { enabled: true, workspaces: [] };
      const next: MergedRule = { ...base, ...fields, enabled: fields.enabled ?? base.enabled };
      // Choosing a new target without saying otherwise means exactly that target.
      if (fields.revertTo !== undefined && fields.revertToPreviousIfStable === undefined) next.revertToPreviousIfStable = false;
      merged.set(code, next);
    }
  }
  const rules: Rule[] = [];
  for (const [code, raw] of [...merged.entries()].sort(([a], [b]) => a - b)) {
    const rule = checkRule(raw, findStatus(code) as StatusInfo, problems);
    if (rule) rules.push(rule);
  }
  if (problems.length > 0) throw new RulesError(problems);
  return rules;
}

/** The rules of one layer by status code, each parsed by its schema; problems are listed, their rules left out. */
function parseLayer(layer: RulesLayer, problems: string[]): Map<number, RuleOverride> {
  const at = layer.source ? `${layer.source}: ` : "";
  const result = new Map<number, RuleOverride>();
  let record: Record<string, unknown>;
  const raw = layer.overrides;
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    problems.push(`${layer.source ?? "the rules"} must be a JSON object keyed by status name, e.g. ${RULES_SHAPE_EXAMPLE}`);
    return result;
  }
  if ("rules" in raw || "$schema" in raw) {
    const wrapper = rulesWrapperSchema.safeParse(raw, { reportInput: true });
    if (!wrapper.success) {
      problems.push(...formatIssues(wrapper.error, { schema: rulesWrapperSchema }).map((p) => `${at}${p}`));
      return result;
    }
    // The rules as parsed, not zod's copy: a copy assigns each key, and `"__proto__"` assigned sets the
    // copy's prototype instead of a key, so that rule vanished unchecked instead of being refused as unknown.
    record = (raw as { rules: Record<string, unknown> }).rules;
  } else {
    record = raw as Record<string, unknown>;
  }
  const keyOf = new Map<number, string>();
  for (const [key, value] of Object.entries(record)) {
    const status = findStatus(key);
    if (!status) {
      problems.push(`${at}rule "${key}": unknown status; use a TaskStatus name or code, e.g. "ProcessingInProgress" or "41"`);
      continue;
    }
    const where = `${at}rule "${status.name}"`;
    const earlier = keyOf.get(status.code);
    if (earlier !== undefined) {
      problems.push(`${where} is given twice (${JSON.stringify(earlier)} and ${JSON.stringify(key)}); keep one`);
      result.delete(status.code);
      continue;
    }
    keyOf.set(status.code, key);
    const parsed = ruleOverrideSchema.safeParse(value, { reportInput: true });
    if (!parsed.success) {
      problems.push(...formatIssues(parsed.error, { schema: ruleOverrideSchema, label: "the rule" }).map((p) => `${where}: ${p}`));
      continue;
    }
    result.set(status.code, parsed.data);
  }
  return result;
}

function checkRule(raw: MergedRule, status: StatusInfo, problems: string[]): Rule | undefined {
  const where = `rule "${status.name}"`;
  if (status.kind === "stable") {
    problems.push(`${where}: ${status.name} is a stable status (a person acts on it); the sweep never touches it. Remove the rule`);
    return undefined;
  }
  const before = problems.length;
  if (!raw.stuckAfter) problems.push(`${where}: stuckAfter must be an ISO-8601 duration such as "PT2H"; this status has no default threshold`);

  let action: RuleAction | undefined;
  if (raw.action === "moveToHistory") {
    if (status.kind !== "archivable") {
      problems.push(`${where}: only archivable statuses (${describeStatuses("archivable")}) can be moved to history; use "action": "revert" with a stable "revertTo"`);
    } else {
      action = { kind: "moveToHistory" };
    }
  } else if (raw.action === "flag") {
    action = { kind: "flag" };
  } else {
    const target = raw.revertTo === undefined ? undefined : findStatus(raw.revertTo);
    if (!target) {
      problems.push(`${where}: revertTo must name a stable status (${describeStatuses("stable")}), got ${raw.revertTo === undefined ? "nothing" : JSON.stringify(raw.revertTo)}`);
    } else if (target.kind !== "stable") {
      problems.push(`${where}: cannot revert to ${target.name} (${target.code}), a ${target.kind} status; a revert target must be stable: ${describeStatuses("stable")}`);
    } else {
      action = { kind: "revert", to: target.code, toPreviousIfStable: raw.revertToPreviousIfStable ?? false };
    }
  }
  (raw.workspaces ?? []).forEach((o, i) => {
    if (typeof o.hold === "object" && o.hold !== null && o.hold.rate !== undefined) {
      problems.push(`${where}: workspaces[${i}].hold.rate: the rate hold counts a status's reverts in every workspace; set "hold": {"rate": …} on the rule itself`);
    }
  });
  if (problems.length > before || !action || !raw.stuckAfter) return undefined;

  const hold = holdFrom(raw.hold, defaultHoldFor(action));
  return {
    status: status.code,
    enabled: raw.enabled,
    stuckAfter: raw.stuckAfter.text,
    stuckAfterSeconds: raw.stuckAfter.seconds,
    action,
    hold,
    rateHold: action.kind === "revert" ? rateHoldFrom(raw.hold) : null,
    workspaces: (raw.workspaces ?? []).map((o) => ({
      workspaceIds: [...o.workspaceIds],
      enabled: o.enabled ?? true,
      // A switched-off override without a threshold of its own keeps the rule's: the reprocess guard
      // still judges "in flight" by it there (src/rules/resolve.ts).
      stuckAfter: o.stuckAfter?.text ?? raw.stuckAfter!.text,
      stuckAfterSeconds: o.stuckAfter?.seconds ?? raw.stuckAfter!.seconds,
      ownStuckAfter: o.stuckAfter !== undefined,
      hold: holdFrom(o.hold, hold),
    })),
  };
}

/**
 * `hold` as written: omitted → `inherited`; false or null → off; true → the defaults; an object names the
 * limits it sets. An object that names only `rate` (a rule's) leaves the level hold as if omitted:
 * `{"rate": false}` switches off the rate hold alone, never both brakes.
 */
function holdFrom(raw: RuleOverride["hold"], inherited: HoldLimit | null): HoldLimit | null {
  if (raw === undefined) return inherited;
  if (raw === false || raw === null) return null;
  if (raw === true) return DEFAULT_HOLD;
  if (raw.maxTasks === undefined && raw.maxShare === undefined) return inherited;
  return { maxTasks: raw.maxTasks ?? null, maxShare: raw.maxShare ?? null };
}

/** The rule's rate hold from its `hold` as written: off with the hold, else the defaults with the fields `rate` names. */
function rateHoldFrom(raw: RuleOverride["hold"]): RateHold | null {
  if (raw === false || raw === null) return null;
  if (raw === undefined || raw === true) return DEFAULT_RATE_HOLD;
  const rate = raw.rate;
  if (rate === false || rate === null) return null;
  if (rate === undefined || rate === true) return DEFAULT_RATE_HOLD;
  return {
    maxReverts: rate.maxReverts ?? DEFAULT_RATE_HOLD.maxReverts,
    normalMultiple: rate.normalMultiple ?? DEFAULT_RATE_HOLD.normalMultiple,
    window: rate.window?.text ?? DEFAULT_RATE_HOLD.window,
    windowSeconds: rate.window?.seconds ?? DEFAULT_RATE_HOLD.windowSeconds,
    baseline: rate.baseline?.text ?? DEFAULT_RATE_HOLD.baseline,
    baselineSeconds: rate.baseline?.seconds ?? DEFAULT_RATE_HOLD.baselineSeconds,
  };
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
