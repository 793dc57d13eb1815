// "Is this one task stuck right now?", as the read API answers it: by the resolver
// (src/rules/resolve.ts), the same answer the sweep acts on. Pure: the caller passes how long the
// task has been in its status, measured by the DATABASE clock (the sweep's clock), never this process's.
//
// A task is stuck when it is in the inbox, the sweep watches its status in its workspace (the rule
// itself, or the workspace override that lists the workspace; an override decides alone, even to
// switch the rule off there), and it has been in that status longer than the threshold. The
// rule's action does not matter: a `flag` (report-only) rule's tasks are stuck all the same.
import type { Rule } from "./rules.js";
import { isStuck, resolve } from "./resolve.js";

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
