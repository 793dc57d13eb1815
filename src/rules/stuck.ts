// "Is this one task stuck right now?", as the read API answers it: by the effective rules, the
// same ones the sweep acts on. Pure: the caller passes how long the task has been in its status,
// measured by the DATABASE clock (the sweep's clock), never this process's.
//
// A task is stuck when it is in the inbox, a rule watches its status for its workspace (the rule
// itself, or the workspace override that lists the workspace; an override decides alone, even to
// switch the rule off there), and it has been in that status longer than the threshold. The
// rule's action does not matter: a `flag` (report-only) rule's tasks are stuck all the same.
import type { Rule } from "./rules.js";

/** The threshold that applies to a task of `status` in `workspaceId`, or null when nothing watches it. */
export function effectiveStuckAfterSeconds(rules: readonly Rule[], status: number, workspaceId: number): number | null {
  const rule = rules.find((r) => r.status === status);
  if (!rule) return null;
  const override = rule.workspaces.find((o) => o.workspaceIds.includes(workspaceId));
  if (override) return override.enabled ? override.stuckAfterSeconds : null;
  return rule.enabled ? rule.stuckAfterSeconds : null;
}

export interface TaskAge {
  readonly status: number;
  readonly workspaceId: number;
  readonly location: "INBOX" | "HISTORY";
  /** now() - status_changed_at, in seconds, by the database clock. */
  readonly secondsInStatus: number;
}

export interface StuckVerdict {
  readonly stuck: boolean;
  /** The effective threshold, or null when no enabled rule watches this status in this workspace. */
  readonly stuckAfterSeconds: number | null;
}

export function stuckVerdict(rules: readonly Rule[], task: TaskAge): StuckVerdict {
  const stuckAfterSeconds = effectiveStuckAfterSeconds(rules, task.status, task.workspaceId);
  // Strictly older, as the sweep's `status_changed_at < now() - threshold`.
  const stuck = task.location === "INBOX" && stuckAfterSeconds !== null && task.secondsInStatus > stuckAfterSeconds;
  return { stuck, stuckAfterSeconds };
}

/**
 * The same thresholds as rows, for a statement that filters many tasks at once: one default per
 * enabled rule, and one row per (status, workspace) an override names — `stuckAfterSeconds` null
 * where the override switches the rule off. A task's threshold is its override row's when one
 * exists, else its status's default row's, else none: exactly effectiveStuckAfterSeconds.
 */
export interface StuckThresholds {
  readonly defaults: readonly { readonly status: number; readonly stuckAfterSeconds: number }[];
  readonly overrides: readonly { readonly status: number; readonly workspaceId: number; readonly stuckAfterSeconds: number | null }[];
}

export function stuckThresholds(rules: readonly Rule[]): StuckThresholds {
  return {
    defaults: rules.filter((r) => r.enabled).map((r) => ({ status: r.status, stuckAfterSeconds: r.stuckAfterSeconds })),
    overrides: rules.flatMap((r) =>
      r.workspaces.flatMap((o) => o.workspaceIds.map((workspaceId) => ({ status: r.status, workspaceId, stuckAfterSeconds: o.enabled ? o.stuckAfterSeconds : null }))),
    ),
  };
}
