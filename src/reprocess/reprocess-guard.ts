// The reprocess guard: may this task be restarted now? Pure: the task's status, its age in that
// status by the DATABASE clock and the effective threshold of its rule go in, a decision comes out.
//
// Refused (unless the request says force):
// - Deleting (19) or Deleted (20): the platform is removing the task; a restart would resurrect it.
// - A transient status not yet past its threshold (age ≤ stuckAfter, the sweep's own notion of
//   "stuck" being age > stuckAfter): the machine is still working on it, a restart now would run
//   paid work twice. The threshold is the rule's for the task's workspace, also when the rule is
//   switched off there (switching off stops the sweep acting, it does not make the work finish
//   sooner). A transient status with no threshold at all counts as always in flight.
// Allowed: stable and archivable statuses, transient ones past their threshold, and codes this
// version does not know (a newer platform's): there is nothing to judge them by.
//
// The threshold is the resolver's (src/rules/resolve.ts), the one every consumer uses. The worker
// makes the same decision inside its reprocess statement, on the row it has locked
// (src/reprocess/sql/reprocess-task.ts, the resolver's rows as SQL); the HTTP endpoint and the CLI ask this
// function first so they can answer 409 / exit 4 at once.
import type { Rule } from "../rules/rules.js";
import { resolve } from "../rules/resolve.js";
import { findStatus, STATUSES, statusName, TaskStatus } from "../rules/status.js";

export interface GuardInput {
  status: number;
  /** Seconds since status_changed_at, by the database clock. */
  statusAgeSeconds: number;
  /** The effective stuckAfter of the task's rule for its workspace; null when no rule covers the status. */
  thresholdSeconds: number | null;
  force: boolean;
}

export type GuardDecision =
  | { allowed: true; forced: boolean; overridden: string | null }
  | { allowed: false; reason: string };

/** Statuses refused at any age: the task is being, or has been, deleted. */
export const DELETION_STATUSES: readonly number[] = [TaskStatus.Deleting, TaskStatus.Deleted];

const seconds = (s: number) => `${Math.round(s)} s`;

/** Why the guard refuses this task ("is Deleting (19): …"), or null when it does not. */
export function guardRefusal(input: Omit<GuardInput, "force">): string | null {
  const name = `${statusName(input.status)} (${input.status})`;
  if (DELETION_STATUSES.includes(input.status)) return `is ${name}: a restart would bring back a task being deleted`;
  if (findStatus(input.status)?.kind !== "transient") return null;
  if (input.thresholdSeconds === null) return `is ${name}, a status in which machine work is in flight, and no rule says when it counts as stuck`;
  if (input.statusAgeSeconds <= input.thresholdSeconds) {
    return `is ${name} for ${seconds(input.statusAgeSeconds)}, not yet past its threshold of ${seconds(input.thresholdSeconds)}: machine work is in flight and a restart would run it twice`;
  }
  return null;
}

/** `subject` names the task in the reason: "task 42". */
export function decideReprocess(input: GuardInput, subject = "the task"): GuardDecision {
  const refusal = guardRefusal(input);
  if (refusal === null) return { allowed: true, forced: input.force, overridden: null };
  if (input.force) return { allowed: true, forced: true, overridden: `${subject} ${refusal}` };
  return { allowed: false, reason: `Conflict: ${subject} ${refusal}; request it with force (job data force: true, CLI --force, HTTP force=true) to restart it anyway` };
}

/** The guard's threshold for a task: the resolver's (src/rules/resolve.ts), kept where the rule is switched off. */
export function guardThresholdSeconds(rules: readonly Rule[], status: number, workspaceId: number): number | null {
  return resolve(rules, status, workspaceId).stuckAfterSeconds;
}

/** Transient statuses (other than the deletion ones): refused while not past their threshold. */
export const GUARDED_TRANSIENT_STATUSES: readonly number[] = STATUSES.filter((s) => s.kind === "transient" && !DELETION_STATUSES.includes(s.code)).map((s) => s.code);
