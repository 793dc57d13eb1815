// What a reprocess request may contain, checked before anything touches the database. Pure: the
// worker turns an error into BullMQ's UnrecoverableError (never retried), the CLI into exit code 2.
//
// Decisions (documented in docs/reprocess.md, "Job data"):
// - Unknown fields are REJECTED, naming them: a typo such as `taskID` must not silently turn into
//   "neither id given", nor an `organisationId` into a request that is not scoped at all.
// - `null` counts as "not given" (many clients serialise absent optional fields as null).
// - Numbers must be JSON numbers: "42" (a string) is a wrong type, not a task id.
// - `taskId` and `externalId` together are ambiguous and rejected.
// - `organizationId` next to `taskId` narrows the request to that organization.
// - Text PostgreSQL cannot store is refused here, never sent: a NUL (U+0000) would make the
//   database refuse the statement, which the worker would take for a transient fault and retry.
//   `externalId` refuses NUL only: it is a lookup key and must match whatever the platform stored.
//   `requestedBy` and `httpRequestId` refuse what audit text may not hold (src/platform/text-safety.ts:
//   control characters, line separators, bidirectional controls): they go into the audit trail and
//   the logs, where a newline could forge a line and a right-to-left override reorder one.
// - `force: true` skips the reprocess guard (src/reprocess/reprocess-guard.ts); it is audited.
import { z } from "zod";
import { describeValue, formatIssues, joinIssues } from "../platform/zod-issues.js";
import { AUDIT_TEXT_ERROR, isAuditSafe } from "../platform/text-safety.js";

import { MAX_ID } from "../platform/ids.js";

// The HTTP endpoint checks the same bound (it imports it), so a request is never accepted there and refused here.
export const MAX_EXTERNAL_ID_LENGTH = 1000;
export const MAX_REQUESTED_BY_LENGTH = 200;
export const MAX_HTTP_REQUEST_ID_LENGTH = 200;
/** The audit actor when the producer did not say who asked. */
export const DEFAULT_ACTOR = "unknown requester";

const SHAPE = "{ taskId } or { externalId, organizationId }, optionally requestedBy and force";

export type ReprocessTarget = { taskId: number; organizationId?: number } | { externalId: string; organizationId: number };

export interface ReprocessRequest {
  target: ReprocessTarget;
  actor: string;
  /** Skip the guard (a Deleting/Deleted task, machine work in flight): audited as forced. */
  force: boolean;
  /** The HTTP request that enqueued this one, to follow it end to end (stored in the audit event). */
  httpRequestId?: string;
}

export type Parsed = { ok: true; request: ReprocessRequest } | { ok: false; error: string };

const id = z
  .number({ error: (issue) => (typeof issue.input === "number" ? `must be a whole number from 1 to ${MAX_ID}, got ${issue.input}` : `must be a JSON number, got ${describeValue(issue.input)}`) })
  .refine((n) => Number.isInteger(n) && n >= 1 && n <= MAX_ID, { error: (issue) => `must be a whole number from 1 to ${MAX_ID}, got ${String(issue.input)}` });

const text = (maxLength: number, forbid: "nul" | "control") =>
  z
    .string({ error: (issue) => `must be a string, got ${describeValue(issue.input)}` })
    .refine((s) => s.trim() !== "", { error: "must not be empty" })
    .refine((s) => s.length <= maxLength, { error: (issue) => `must be at most ${maxLength} characters, got ${(issue.input as string).length}` })
    .refine((s) => (forbid === "nul" ? !s.includes("\u0000") : isAuditSafe(s)), {
      error: forbid === "nul" ? "must not contain NUL (U+0000): PostgreSQL text cannot hold it" : AUDIT_TEXT_ERROR,
    });

/** Who asks, as job data's `requestedBy` (and the bulk CLI's --requested-by): audit text, at most MAX_REQUESTED_BY_LENGTH characters. */
export const requestedByText = text(MAX_REQUESTED_BY_LENGTH, "control");

/** The job data on `task-reprocess`, as producers send it. Null means "not given" for every field. */
export const reprocessJobDataSchema = z.strictObject(
  {
    taskId: id.nullish(),
    externalId: text(MAX_EXTERNAL_ID_LENGTH, "nul").nullish(),
    organizationId: id.nullish(),
    requestedBy: requestedByText.nullish(),
    force: z.boolean({ error: (issue) => `must be true or false, got ${describeValue(issue.input)}` }).nullish(),
    httpRequestId: text(MAX_HTTP_REQUEST_ID_LENGTH, "control").nullish(),
  },
  { error: (issue) => (issue.code === "invalid_type" ? `must be an object ${SHAPE}` : undefined) },
);

const bad = (message: string): Parsed => ({ ok: false, error: `BadRequest: ${message}` });

export function parseReprocessRequest(data: unknown): Parsed {
  const parsed = reprocessJobDataSchema.safeParse(data, { reportInput: true });
  if (!parsed.success) return bad(joinIssues(formatIssues(parsed.error, { schema: reprocessJobDataSchema, label: "job data" })));
  const { taskId, externalId, organizationId, requestedBy, force, httpRequestId } = parsed.data;

  const extras = { actor: requestedBy?.trim() ?? DEFAULT_ACTOR, force: force ?? false, ...(httpRequestId == null ? {} : { httpRequestId }) };
  if (taskId != null && externalId != null) return bad(`give either taskId or externalId, not both (got taskId ${taskId} and externalId ${JSON.stringify(externalId)})`);
  if (taskId != null) return { ok: true, request: { target: organizationId == null ? { taskId } : { taskId, organizationId }, ...extras } };
  if (externalId != null) {
    if (organizationId == null) return bad("externalId needs organizationId: an external id is unique only within its organization");
    return { ok: true, request: { target: { externalId, organizationId }, ...extras } };
  }
  return bad(`neither taskId nor externalId given; send ${SHAPE}`);
}

/** "task 42", "task with externalId "INV-7" in organization 3": how a target reads in messages. */
export function describeTarget(target: ReprocessTarget): string {
  if ("taskId" in target) return target.organizationId === undefined ? `task ${target.taskId}` : `task ${target.taskId} in organization ${target.organizationId}`;
  return `task with externalId ${JSON.stringify(target.externalId)} in organization ${target.organizationId}`;
}
