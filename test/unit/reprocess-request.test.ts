// Every shape of reprocess job data: what is accepted (and what it targets), and the exact reason
// for everything that is not. Rejections become UnrecoverableError in the worker: never retried.
import { describe, expect, it } from "vitest";
import { DEFAULT_ACTOR, describeTarget, parseReprocessRequest } from "../../src/reprocess/reprocess-request.js";
import { MAX_ID } from "../../src/platform/ids.js";

describe("when the job data is a valid request", () => {
  it.each([
    { data: { taskId: 42 }, target: { taskId: 42 }, actor: DEFAULT_ACTOR },
    { data: { taskId: 1 }, target: { taskId: 1 }, actor: DEFAULT_ACTOR },
    { data: { taskId: MAX_ID }, target: { taskId: MAX_ID }, actor: DEFAULT_ACTOR },
    { data: { taskId: 42, organizationId: 3 }, target: { taskId: 42, organizationId: 3 }, actor: DEFAULT_ACTOR },
    { data: { externalId: "INV-7", organizationId: 3 }, target: { externalId: "INV-7", organizationId: 3 }, actor: DEFAULT_ACTOR },
    { data: { externalId: " spaced ", organizationId: 3 }, target: { externalId: " spaced ", organizationId: 3 }, actor: DEFAULT_ACTOR },
    { data: { taskId: 42, requestedBy: "  alice@example.com " }, target: { taskId: 42 }, actor: "alice@example.com" },
    { data: { taskId: 42, externalId: null, organizationId: null, requestedBy: null }, target: { taskId: 42 }, actor: DEFAULT_ACTOR },
    { data: { externalId: "X", organizationId: 3, taskId: undefined }, target: { externalId: "X", organizationId: 3 }, actor: DEFAULT_ACTOR },
  ])("$data targets $target as $actor", ({ data, target, actor }) => {
    expect(parseReprocessRequest(data)).toEqual({ ok: true, request: { target, actor, force: false } });
  });

  it.each([
    { data: { taskId: 42, force: true }, extras: { force: true } },
    { data: { taskId: 42, force: false }, extras: { force: false } },
    { data: { taskId: 42, force: null }, extras: { force: false } },
    { data: { taskId: 42, httpRequestId: "req-7f3a" }, extras: { force: false, httpRequestId: "req-7f3a" } },
    { data: { externalId: "tab\there", organizationId: 3 }, extras: { force: false } },
  ])("$data carries $extras", ({ data, extras }) => {
    const parsed = parseReprocessRequest(data);
    expect(parsed.ok && parsed.request).toMatchObject(extras);
    if (parsed.ok && !("httpRequestId" in extras)) expect(parsed.request).not.toHaveProperty("httpRequestId");
  });
});

describe("when the job data can never succeed, it is a BadRequest naming the problem", () => {
  it.each([
    { name: "neither id", data: {}, error: "BadRequest: neither taskId nor externalId given; send { taskId } or { externalId, organizationId }, optionally requestedBy and force" },
    { name: "only nulls", data: { taskId: null, externalId: null }, error: "BadRequest: neither taskId nor externalId given" },
    { name: "only organizationId", data: { organizationId: 3 }, error: "BadRequest: neither taskId nor externalId given" },
    { name: "externalId without organizationId", data: { externalId: "INV-7" }, error: "BadRequest: externalId needs organizationId: an external id is unique only within its organization" },
    { name: "both ids", data: { taskId: 1, externalId: "INV-7", organizationId: 3 }, error: 'BadRequest: give either taskId or externalId, not both (got taskId 1 and externalId "INV-7")' },
    { name: "a typo in a field name", data: { taskID: 42 }, error: 'BadRequest: unknown field "taskID"; allowed: taskId, externalId, organizationId, requestedBy, force, httpRequestId (names are case-sensitive)' },
    { name: "several unknown fields", data: { taskId: 1, organisationId: 3, forced: true }, error: 'BadRequest: unknown fields "organisationId", "forced"' },
    { name: "many unknown fields", data: Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`f${i}`, i])), error: 'BadRequest: unknown fields "f0", "f1", "f2", "f3", "f4" and 4 more; allowed' },
    { name: "a very long unknown field", data: { ["x".repeat(100)]: 1 }, error: `BadRequest: unknown field "${"x".repeat(40)}…"; allowed` },
    { name: "taskId as a string", data: { taskId: "42" }, error: 'BadRequest: taskId must be a JSON number, got the string "42"' },
    { name: "taskId as a boolean", data: { taskId: true }, error: "BadRequest: taskId must be a JSON number, got boolean true" },
    { name: "taskId as an object", data: { taskId: { id: 1 } }, error: "BadRequest: taskId must be a JSON number, got an object" },
    { name: "fractional taskId", data: { taskId: 1.5 }, error: `BadRequest: taskId must be a whole number from 1 to ${MAX_ID}, got 1.5` },
    { name: "zero taskId", data: { taskId: 0 }, error: `BadRequest: taskId must be a whole number from 1 to ${MAX_ID}, got 0` },
    { name: "negative taskId", data: { taskId: -3 }, error: "got -3" },
    { name: "taskId beyond integer", data: { taskId: MAX_ID + 1 }, error: `got ${MAX_ID + 1}` },
    { name: "NaN taskId", data: { taskId: Number.NaN }, error: "got NaN" },
    { name: "externalId as a number", data: { externalId: 7, organizationId: 3 }, error: "BadRequest: externalId must be a string, got number 7" },
    { name: "empty externalId", data: { externalId: "  ", organizationId: 3 }, error: "BadRequest: externalId must not be empty" },
    { name: "huge externalId", data: { externalId: "x".repeat(1001), organizationId: 3 }, error: "BadRequest: externalId must be at most 1000 characters, got 1001" },
    { name: "organizationId as a string", data: { externalId: "X", organizationId: "3" }, error: 'BadRequest: organizationId must be a JSON number, got the string "3"' },
    { name: "organizationId zero", data: { externalId: "X", organizationId: 0 }, error: "BadRequest: organizationId must be a whole number" },
    { name: "requestedBy as a number", data: { taskId: 1, requestedBy: 5 }, error: "BadRequest: requestedBy must be a string, got number 5" },
    { name: "empty requestedBy", data: { taskId: 1, requestedBy: "" }, error: "BadRequest: requestedBy must not be empty" },
    { name: "two wrong fields at once", data: { taskId: "1", requestedBy: 5 }, error: 'BadRequest: taskId must be a JSON number, got the string "1"; requestedBy must be a string, got number 5' },
    { name: "null data", data: null, error: "BadRequest: job data must be an object { taskId } or { externalId, organizationId }, optionally requestedBy and force, got null" },
    { name: "force as a string", data: { taskId: 1, force: "true" }, error: 'BadRequest: force must be true or false, got the string "true"' },
    { name: "a newline in httpRequestId", data: { taskId: 1, httpRequestId: "a\nb" }, error: "BadRequest: httpRequestId must not contain control characters" },
    { name: "huge httpRequestId", data: { taskId: 1, httpRequestId: "r".repeat(201) }, error: "BadRequest: httpRequestId must be at most 200 characters, got 201" },
    { name: "no data at all", data: undefined, error: "got nothing" },
    { name: "an array", data: [42], error: "BadRequest: job data must be an object" },
    { name: "a bare number", data: 42, error: "got number 42" },
    // PostgreSQL text cannot hold U+0000: refused here, or the worker would take the database's
    // refusal for a transient fault and retry it every attempt.
    { name: "a NUL in externalId", data: { externalId: "\u0000", organizationId: 1 }, error: "BadRequest: externalId must not contain NUL (U+0000)" },
    { name: "a NUL inside externalId", data: { externalId: "h-1\u0000", organizationId: 1 }, error: "BadRequest: externalId must not contain NUL (U+0000)" },
    { name: "a NUL in requestedBy", data: { taskId: 1, requestedBy: "al\u0000ice" }, error: "BadRequest: requestedBy must not contain control characters" },
    { name: "a newline in requestedBy", data: { taskId: 1, requestedBy: "alice\nreprocess requested by bob" }, error: "BadRequest: requestedBy must not contain control characters" },
    { name: "a right-to-left override in requestedBy", data: { taskId: 1, requestedBy: "alice\u202Eboj" }, error: "BadRequest: requestedBy must not contain control characters, line separators or bidirectional controls" },
    { name: "a C1 next line in requestedBy", data: { taskId: 1, requestedBy: "alice\u0085bob" }, error: "BadRequest: requestedBy must not contain control characters" },
    { name: "a line separator in httpRequestId", data: { taskId: 1, httpRequestId: "a\u2028b" }, error: "BadRequest: httpRequestId must not contain control characters" },
  ])("$name", ({ data, error }) => {
    const parsed = parseReprocessRequest(data);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.error.startsWith("BadRequest: ")).toBe(true);
    expect(parsed.error).toContain(error);
  });
});

describe("describeTarget", () => {
  it.each([
    { target: { taskId: 42 }, text: "task 42" },
    { target: { taskId: 42, organizationId: 3 }, text: "task 42 in organization 3" },
    { target: { externalId: "INV-7", organizationId: 3 }, text: 'task with externalId "INV-7" in organization 3' },
  ])("$text", ({ target, text }) => expect(describeTarget(target)).toBe(text));
});
