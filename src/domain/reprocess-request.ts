// What a reprocess request may contain, checked before anything touches the database. Pure: the
// worker turns an error into BullMQ's UnrecoverableError (never retried), the CLI into exit code 2.
//
// Decisions (documented in the README, "Reprocess requests"):
// - Unknown fields are REJECTED, naming them: a typo such as `taskID` must not silently turn into
//   "neither id given", nor an `organisationId` into a request that is not scoped at all.
// - `null` counts as "not given" (many clients serialise absent optional fields as null).
// - Numbers must be JSON numbers: "42" (a string) is a wrong type, not a task id.
// - `taskId` and `externalId` together are ambiguous and rejected.
// - `organizationId` next to `taskId` narrows the request to that organization.

/** PostgreSQL `integer`: ids beyond it can never match a row. */
export const MAX_ID = 2_147_483_647;
// The HTTP endpoint checks the same bound (it imports it), so a request is never accepted there and refused here.
export const MAX_EXTERNAL_ID_LENGTH = 1000;
export const MAX_REQUESTED_BY_LENGTH = 200;
/** The audit actor when the producer did not say who asked. */
export const DEFAULT_ACTOR = "unknown requester";

const FIELDS = ["taskId", "externalId", "organizationId", "requestedBy"] as const;
const SHAPE = "{ taskId } or { externalId, organizationId }, optionally requestedBy";

export type ReprocessTarget = { taskId: number; organizationId?: number } | { externalId: string; organizationId: number };

export interface ReprocessRequest {
  target: ReprocessTarget;
  actor: string;
}

export type Parsed = { ok: true; request: ReprocessRequest } | { ok: false; error: string };

const describe = (value: unknown): string => {
  if (value === null) return "null";
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === "number" || typeof value === "boolean") return `${typeof value} ${String(value)}`;
  return typeof value === "object" ? "an object" : typeof value;
};

const bad = (message: string): Parsed => ({ ok: false, error: `BadRequest: ${message}` });

function checkId(name: string, value: unknown): string | undefined {
  if (typeof value !== "number") return `${name} must be a JSON number, got ${describe(value)}`;
  if (!Number.isInteger(value) || value < 1 || value > MAX_ID) return `${name} must be a whole number from 1 to ${MAX_ID}, got ${value}`;
  return undefined;
}

function checkText(name: string, value: unknown, maxLength: number): string | undefined {
  if (typeof value !== "string") return `${name} must be a string, got ${describe(value)}`;
  if (value.trim() === "") return `${name} must not be empty`;
  if (value.length > maxLength) return `${name} must be at most ${maxLength} characters, got ${value.length}`;
  return undefined;
}

export function parseReprocessRequest(data: unknown): Parsed {
  if (typeof data !== "object" || data === null || Array.isArray(data)) return bad(`job data must be an object ${SHAPE}, got ${describe(data)}`);
  const record = data as Record<string, unknown>;

  const unknown = Object.keys(record).filter((key) => !(FIELDS as readonly string[]).includes(key));
  if (unknown.length > 0) {
    // Named (a few, shortened: the message becomes the job's failedReason), so the producer sees its typo.
    const named = unknown.slice(0, 5).map((k) => JSON.stringify(k.length > 40 ? `${k.slice(0, 40)}…` : k));
    const more = unknown.length > 5 ? ` and ${unknown.length - 5} more` : "";
    return bad(`unknown field${unknown.length > 1 ? "s" : ""} ${named.join(", ")}${more}; allowed: ${FIELDS.join(", ")} (names are case-sensitive)`);
  }
  const given = (key: (typeof FIELDS)[number]) => record[key] !== undefined && record[key] !== null;

  const problems = [
    given("taskId") ? checkId("taskId", record.taskId) : undefined,
    given("externalId") ? checkText("externalId", record.externalId, MAX_EXTERNAL_ID_LENGTH) : undefined,
    given("organizationId") ? checkId("organizationId", record.organizationId) : undefined,
    given("requestedBy") ? checkText("requestedBy", record.requestedBy, MAX_REQUESTED_BY_LENGTH) : undefined,
  ].filter((p): p is string => p !== undefined);
  if (problems.length > 0) return bad(problems.join("; "));

  const actor = given("requestedBy") ? (record.requestedBy as string).trim() : DEFAULT_ACTOR;
  const organizationId = given("organizationId") ? (record.organizationId as number) : undefined;

  if (given("taskId") && given("externalId")) return bad(`give either taskId or externalId, not both (got taskId ${String(record.taskId)} and externalId ${JSON.stringify(record.externalId)})`);
  if (given("taskId")) {
    const taskId = record.taskId as number;
    return { ok: true, request: { target: organizationId === undefined ? { taskId } : { taskId, organizationId }, actor } };
  }
  if (given("externalId")) {
    if (organizationId === undefined) return bad("externalId needs organizationId: an external id is unique only within its organization");
    return { ok: true, request: { target: { externalId: record.externalId as string, organizationId }, actor } };
  }
  return bad(`neither taskId nor externalId given; send ${SHAPE}`);
}

/** "task 42", "task with externalId "INV-7" in organization 3": how a target reads in messages. */
export function describeTarget(target: ReprocessTarget): string {
  if ("taskId" in target) return target.organizationId === undefined ? `task ${target.taskId}` : `task ${target.taskId} in organization ${target.organizationId}`;
  return `task with externalId ${JSON.stringify(target.externalId)} in organization ${target.organizationId}`;
}
