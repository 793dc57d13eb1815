// "Is this one task stuck right now?", as the read API answers it: by the resolver
// (src/rules/resolve.ts), the same answer the sweep acts on. Pure: the caller passes how long the
// task has been in its status, measured by the DATABASE clock (the sweep's clock), never this process's.
//
// A task is stuck when it is in the inbox, the sweep watches its status in its workspace (the rule
// itself, or the workspace override that lists the workspace; an override decides alone, even to
// switch the rule off there), and it has been in that status longer than the threshold. The
// rule's action does not matter: a `flag` (report-only) rule's tasks are stuck all the same.
import type { Rule } from "./rules.js";
import { isStuck, resolve, thresholdRows } from "./resolve.js";

export interface TaskAge {
  readonly status: number;
  readonly workspaceId: number;
  readonly location: "INBOX" | "HISTORY";
  /** now() - status_changed_at, in seconds, by the database clock. */
  readonly secondsInStatus: number;
}

export interface StuckVerdict {
  readonly stuck: boolean;
  /** The threshold the sweep applies, or null when it does not watch this status in this workspace. */
  readonly stuckAfterSeconds: number | null;
}

export function stuckVerdict(rules: readonly Rule[], task: TaskAge): StuckVerdict {
  const r = resolve(rules, task.status, task.workspaceId);
  return { stuck: isStuck(r, task), stuckAfterSeconds: r.watched ? r.stuckAfterSeconds : null };
}

/**
 * The same verdict as rows, for a statement that filters many tasks at once — the resolver's rows
 * (thresholdRows) in the read API's shape: one default per status the rule watches for every other
 * workspace, and one row per (status, workspace) an override names — `stuckAfterSeconds` null where
 * the override switches the rule off. A task's threshold is its override row's when one exists, else
 * its status's default row's, else none: exactly stuckVerdict.
 */
export interface StuckThresholds {
  readonly defaults: readonly { readonly status: number; readonly stuckAfterSeconds: number }[];
  readonly overrides: readonly { readonly status: number; readonly workspaceId: number; readonly stuckAfterSeconds: number | null }[];
}

export function stuckThresholds(rules: readonly Rule[]): StuckThresholds {
  const rows = thresholdRows(rules);
  const defaults: { status: number; stuckAfterSeconds: number }[] = [];
  const overrides: { status: number; workspaceId: number; stuckAfterSeconds: number | null }[] = [];
  rows.statuses.forEach((status, i) => {
    const workspaceId = rows.workspaceIds[i];
    const seconds = rows.watched[i] ? rows.seconds[i]! : null;
    if (workspaceId === null || workspaceId === undefined) {
      if (seconds !== null) defaults.push({ status, stuckAfterSeconds: seconds });
    } else {
      overrides.push({ status, workspaceId, stuckAfterSeconds: seconds });
    }
  });
  return { defaults, overrides };
}
