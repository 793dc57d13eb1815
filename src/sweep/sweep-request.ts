// What a sweep job may contain, checked before the sweep starts. Pure: the worker turns an error
// into BullMQ's UnrecoverableError (never retried), the CLI refuses the same input with exit code 2.
//
// Strict on purpose: `{"dryrun": true}` once ran a real sweep, because an unknown field was ignored
// and a preview silently became the action. Unknown fields, a non-object, a wrong type: refused by name.
// The scheduler's job data is `{}`, a real sweep.
import { z } from "zod";
import { formatIssues, joinIssues } from "../platform/zod-issues.js";
import { AUDIT_TEXT_ERROR, isAuditSafe } from "../platform/text-safety.js";
import type { Rule } from "../rules/rules.js";
import { findStatus, statusName } from "../rules/status.js";

export const MAX_RELEASED_BY_LENGTH = 200;

export interface SweepRequest {
  dryRun: boolean;
  /** Held probes of these statuses act anyway, this once; `by` goes into every event. */
  release: { statuses: ReadonlySet<number>; by: string } | null;
}

export type ParsedSweepRequest = { ok: true; request: SweepRequest } | { ok: false; error: string };

/**
 * Text an operator gives for the audit trail (a name, a reason): trimmed, not empty (`ifEmpty` says
 * what to give), bounded, printable (a NUL cannot even be stored in PostgreSQL text).
 */
export const operatorText = (max: number, ifEmpty: string) =>
  z
    .string({ error: "must be a string" })
    .trim()
    .min(1, { error: ifEmpty })
    .max(max, { error: `must be at most ${max} characters` })
    .refine(isAuditSafe, { error: AUDIT_TEXT_ERROR });

/** An operator's name for the audit trail. */
export const actorName = () => operatorText(MAX_RELEASED_BY_LENGTH, "must not be empty");

/** A status that has a rule, by name (case-insensitive) or code; parses to its code. */
export function ruleStatus(rules: readonly Rule[]) {
  const codes = new Set(rules.map((r) => r.status));
  const allowed = rules.map((r) => statusName(r.status)).join(", ");
  return z.union([z.string().max(100), z.number()], { error: `must be a status name or code that has a rule (${allowed})` }).transform((value, ctx) => {
    const status = findStatus(value);
    if (!status || !codes.has(status.code)) {
      ctx.addIssue({
        code: "custom",
        input: value,
        message: status ? `names ${status.name}, which has no rule; statuses with a rule: ${allowed}` : `must be a status name or code that has a rule (${allowed})`,
      });
      return z.NEVER;
    }
    return status.code;
  });
}

export function sweepJobDataSchema(rules: readonly Rule[]) {
  return z
    .strictObject(
      {
        dryRun: z.boolean({ error: "must be true or false" }).optional(),
        release: z.array(ruleStatus(rules)).min(1).max(100).optional(),
        releasedBy: actorName().optional(),
      },
      { error: (issue) => (issue.code === "invalid_type" ? "must be an object such as {} or {\"dryRun\": true}" : undefined) },
    )
    .superRefine((data, ctx) => {
      if (data.release && data.releasedBy === undefined) ctx.addIssue({ code: "custom", path: ["releasedBy"], input: undefined, message: "is needed with release (who checked the held tasks, for the audit trail)" });
      if (!data.release && data.releasedBy !== undefined) ctx.addIssue({ code: "custom", path: ["release"], input: undefined, message: "is needed with releasedBy (releasedBy alone releases nothing)" });
    });
}

const LABEL = "job data";

export function parseSweepJobData(data: unknown, rules: readonly Rule[]): ParsedSweepRequest {
  const schema = sweepJobDataSchema(rules);
  // A job added without data is stored as {} by BullMQ; undefined here means the same.
  const parsed = schema.safeParse(data === undefined ? {} : data, { reportInput: true });
  if (!parsed.success) return { ok: false, error: `BadRequest: ${joinIssues(formatIssues(parsed.error, { schema, label: LABEL }))}` };
  const { dryRun = false, release, releasedBy } = parsed.data;
  return { ok: true, request: { dryRun, release: release && releasedBy !== undefined ? { statuses: new Set(release), by: releasedBy } : null } };
}
