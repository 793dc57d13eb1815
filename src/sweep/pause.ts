// Pausing the sweep: what an operator may ask (`watchdog pause` / `resume`) and what a pause means
// to a sweep. Pure: the rows come from sweep/sql/*-pauses.ts, the clock is the database's.
//
// A paused sweep still runs: it finds and reports what it would have done and acts on none of it,
// so an operator sees the backlog grow while the platform is being repaired.
import { z } from "zod";
import { parsePositiveDuration } from "../rules/duration.js";
import type { Rule } from "../rules/rules.js";
import { statusName } from "../rules/status.js";
import { actorName, operatorText, ruleStatus } from "./sweep-request.js";

export const MAX_PAUSE_REASON_LENGTH = 500;

/** The reason an operator gives for an action (release, resume, replay), for the audit trail. */
export const actionReason = () => operatorText(MAX_PAUSE_REASON_LENGTH, "must not be empty: say why, for the audit trail");
/** A pause with an end is judged by the database clock; longer than this, leave out --for and resume by hand. */
export const MAX_PAUSE_SECONDS = 365 * 24 * 3600;

/** One pause as stored (sweep_pauses), open or ended. */
export interface Pause {
  id: string;
  /** The rule's status code; null pauses every rule. */
  status: number | null;
  reason: string;
  pausedBy: string;
  pausedAt: Date;
  expiresAt: Date | null;
  endedAt: Date | null;
  endedBy: string | null;
  endedHow: "RESUMED" | "EXPIRED" | "REPLACED" | null;
}

/** What runSweep needs: paused probes report what they would do and act on none. */
export interface PauseScope {
  all: boolean;
  statuses: ReadonlySet<number>;
}

/** The label a pause goes by in metrics, logs and /health/sweeps: "all" or the status's name. */
export const pauseRule = (status: number | null): string => (status === null ? "all" : statusName(status));

/** The scope of the open pauses, or null when nothing is paused. */
export function pauseScope(open: readonly Pause[]): PauseScope | null {
  if (open.length === 0) return null;
  return { all: open.some((p) => p.status === null), statuses: new Set(open.flatMap((p) => (p.status === null ? [] : [p.status]))) };
}

/** How a pause reads in a log line, a health body or `status --json`. */
export function describePause(p: Pause) {
  return { rule: pauseRule(p.status), by: p.pausedBy, reason: p.reason, since: p.pausedAt.toISOString(), until: p.expiresAt?.toISOString() ?? null };
}

const reason = operatorText(MAX_PAUSE_REASON_LENGTH, "must not be empty: say why, for whoever finds the sweep paused");

const forSeconds = z.string({ error: "must be an ISO-8601 duration such as PT2H" }).transform((value, ctx) => {
  const d = parsePositiveDuration(value);
  if ("error" in d) {
    ctx.addIssue({ code: "custom", input: value, message: d.error });
    return z.NEVER;
  }
  if (d.seconds > MAX_PAUSE_SECONDS) {
    ctx.addIssue({ code: "custom", input: value, message: "must be at most P365D (leave --for out to pause until resumed)" });
    return z.NEVER;
  }
  return d.seconds;
});

/** `watchdog pause` options; the CLI's flags are the field names (--rule, --for, --reason, --by). */
export function pauseInputSchema(rules: readonly Rule[]) {
  return z.object({ rule: ruleStatus(rules).optional(), for: forSeconds.optional(), reason, by: actorName() });
}

/** `watchdog resume` options; the reason is optional on the CLI (it was not asked for at first), required in the console. */
export function resumeInputSchema(rules: readonly Rule[]) {
  return z.object({ rule: ruleStatus(rules).optional(), by: actorName(), reason: reason.optional() });
}
