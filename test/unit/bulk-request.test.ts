// What counts as "the same bulk request" for an Idempotency-Key, what a key may be, and how a start past the cap is refused. Pure.
import { describe, expect, it } from "vitest";
import { parseBulkRequest, parseIdempotencyKey, requestHash, type BulkRequest } from "../../src/reprocess/bulk-request.js";
import { tooManyRunningError } from "../../src/reprocess/bulk-service.js";

const parsed = (query: string, body?: unknown): BulkRequest => {
  const result = parseBulkRequest(new URLSearchParams(query), body);
  if (!result.ok) throw new Error(result.error);
  return result.value;
};
const hash = (query: string, body?: unknown) => requestHash(parsed(query, body));

describe("requestHash", () => {
  it("is the same for one filter written differently: list order, repetition, names or codes, time zones", () => {
    expect(hash("status=41,40&stuck=true")).toBe(hash("stuck=true&status=40&status=41"));
    expect(hash("status=ProcessingInProgress")).toBe(hash("status=41"));
    expect(hash("changedSince=2026-12-01T01:00:00%2B01:00")).toBe(hash("changedSince=2026-12-01T00:00:00Z"));
  });

  it("differs when the selection or force differs; ids in another order are another request", () => {
    expect(hash("status=41")).not.toBe(hash("status=41&force=true"));
    expect(hash("status=41")).not.toBe(hash("status=41&stuck=true"));
    expect(hash("", { taskIds: [1, 2] })).not.toBe(hash("", { taskIds: [2, 1] }));
    expect(hash("", { taskIds: [1, 2] })).not.toBe(hash("", { externalIds: ["1", "2"] }));
  });

  it("ignores dryRun, so the preview's request and the bulk's are one", () => {
    expect(hash("status=41&dryRun=true")).toBe(hash("status=41"));
  });
});

describe("parseIdempotencyKey", () => {
  it.each([
    [undefined, /^Idempotency-Key header required/],
    [["a", "b"], /^Idempotency-Key given 2 times/],
    ["", /^Idempotency-Key is not usable/],
    [" leading-space", /^Idempotency-Key is not usable/],
    ["x".repeat(201), /^Idempotency-Key is not usable/],
    ["tab\there", /^Idempotency-Key is not usable/],
  ])("refuses %j", (value, message) => {
    const result = parseIdempotencyKey(value);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error).toMatch(message);
  });

  it("takes a UUID or any printable key", () => {
    expect(parseIdempotencyKey("3f2c9a1e-7b4d-4c1a-9e8f-0a1b2c3d4e5f")).toEqual({ ok: true, value: "3f2c9a1e-7b4d-4c1a-9e8f-0a1b2c3d4e5f" });
    expect(parseIdempotencyKey("incident 2026-12-01 #2")).toEqual({ ok: true, value: "incident 2026-12-01 #2" });
  });
});

describe("the refusal past BULK_REPROCESS_MAX_RUNNING", () => {
  const how = { follow: "F", cancel: "C", retry: "R" };
  it("names the oldest running bulks, five at most, and counts the rest; one bulk reads in the singular", () => {
    const ids = ["bulk_a", "bulk_b", "bulk_c", "bulk_d", "bulk_e"];
    expect(tooManyRunningError({ kind: "tooManyRunning", limit: 10, running: { count: 12, oldest: ids } }, "your organization", how)).toBe(
      "your organization already has 12 bulk reprocesses running, the most it may run at once (BULK_REPROCESS_MAX_RUNNING = 10): bulk_a, bulk_b, bulk_c, bulk_d, bulk_e and 7 more; wait for one to finish (F) or cancel one (C), then R; nothing was started",
    );
    expect(tooManyRunningError({ kind: "tooManyRunning", limit: 1, running: { count: 1, oldest: ["bulk_a"] } }, "organization 7", how)).toBe(
      "organization 7 already has 1 bulk reprocess running, the most it may run at once (BULK_REPROCESS_MAX_RUNNING = 1): bulk_a; wait for one to finish (F) or cancel one (C), then R; nothing was started",
    );
  });
});
