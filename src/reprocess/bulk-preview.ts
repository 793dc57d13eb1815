// The preview of a bulk reprocess (`dryRun=true`): how many tasks it selects, how many the guard
// would refuse and why, and what the reprocess would discard. Pure: the selected rows (with their
// age by the database clock) and the effective rules in, counts out. Each task is judged by the
// reprocess guard itself (guardRefusal), as the single endpoint judges one task before it enqueues;
// the worker decides again on the locked row, so a task may change between preview and bulk.
import { DELETION_STATUSES, guardRefusal, guardThresholdSeconds } from "./reprocess-guard.js";
import type { Rule } from "../rules/rules.js";
import type { SelectedTask } from "./sql/select-bulk-tasks.js";

/** Why the guard refuses: a task being deleted; machine work in flight within its threshold; a transient status no rule covers. */
export type RefusalKind = "deleting" | "in_flight" | "no_rule";
export const REFUSAL_KINDS: readonly RefusalKind[] = ["deleting", "in_flight", "no_rule"];

export interface BulkPreview {
  /** Tasks of the organization the selection names. */
  matched: number;
  /** Ids of the list that name no task of the organization (always 0 for a filter). */
  notFound: number;
  /** Tasks the bulk would reprocess (with force: every matched task). */
  wouldApply: number;
  /** Tasks the guard would refuse, per reason (with force: none). */
  wouldRefuse: { total: number; byReason: Record<RefusalKind, number> };
  /** With force: tasks reprocessed although the guard would refuse them (audited as forced). */
  forcedPastGuard: number;
  /** Tasks to be reprocessed whose people's edits would be discarded. */
  discardsEdits: number;
  /** Tasks to be reprocessed whose assignment work (in progress, completed, rejected) goes back to PENDING. */
  resetsAssignments: number;
}

export function refusalKind(task: Pick<SelectedTask, "status" | "workspaceId" | "statusAgeSeconds">, rules: readonly Rule[]): RefusalKind | null {
  const thresholdSeconds = guardThresholdSeconds(rules, task.status, task.workspaceId);
  if (guardRefusal({ status: task.status, statusAgeSeconds: task.statusAgeSeconds, thresholdSeconds }) === null) return null;
  if (DELETION_STATUSES.includes(task.status)) return "deleting";
  return thresholdSeconds === null ? "no_rule" : "in_flight";
}

export function previewBulk(tasks: readonly SelectedTask[], notFound: number, rules: readonly Rule[], force: boolean): BulkPreview {
  const byReason: Record<RefusalKind, number> = { deleting: 0, in_flight: 0, no_rule: 0 };
  let wouldApply = 0;
  let forcedPastGuard = 0;
  let discardsEdits = 0;
  let resetsAssignments = 0;
  for (const task of tasks) {
    const kind = refusalKind(task, rules);
    if (kind !== null && !force) {
      byReason[kind] += 1;
      continue;
    }
    if (kind !== null) forcedPastGuard += 1;
    wouldApply += 1;
    if (task.hasEdits) discardsEdits += 1;
    if (task.hasAssignmentWork) resetsAssignments += 1;
  }
  const total = byReason.deleting + byReason.in_flight + byReason.no_rule;
  return { matched: tasks.length, notFound, wouldApply, wouldRefuse: { total, byReason }, forcedPastGuard, discardsEdits, resetsAssignments };
}
