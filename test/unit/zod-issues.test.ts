import { describe, expect, it } from "vitest";
import { z } from "zod";
import { formatIssues, joinIssues } from "../../src/platform/zod-issues.js";

const schema = z.strictObject({
  dryRun: z.boolean().optional(),
  taskId: z.number().int().min(1).optional(),
  rules: z.array(z.strictObject({ stuckAfter: z.string() })).optional(),
});
const messages = (data: unknown) => {
  const r = schema.safeParse(data, { reportInput: true });
  return r.success ? [] : formatIssues(r.error, { schema, label: "job data" });
};

describe("formatIssues", () => {
  it("when a field name has a typo, then the message names it and lists the allowed ones", () => {
    expect(messages({ dryrun: true })).toEqual(['unknown field "dryrun"; allowed: dryRun, taskId, rules (names are case-sensitive)']);
  });
  it("when a nested object has an unknown field, then its path and its own allowed fields are named", () => {
    expect(messages({ rules: [{ stuckAfter: "PT1H", after: 1 }] })).toEqual(['rules[0]: unknown field "after"; allowed: stuckAfter (names are case-sensitive)']);
  });
  it("when a value has the wrong type, then the field, the expected type and the received value are named", () => {
    expect(messages({ taskId: "42" })).toEqual(['taskId must be a number, got the string "42"']);
    expect(messages({ dryRun: "yes" })).toEqual(['dryRun must be a boolean, got the string "yes"']);
  });
  it("when a number is out of range, then the bound is named", () => {
    expect(messages({ taskId: 0 })).toEqual(["taskId must be at least 1, got number 0"]);
  });
  it("when the input itself is not an object, then the label is used", () => {
    expect(messages([true])).toEqual(["job data must be an object, got an array"]);
  });
});

describe("joinIssues", () => {
  it("joins a few messages, leaves out repeats, and counts what it does not name", () => {
    expect(joinIssues(["a", "b", "a"])).toBe("a; b");
    expect(joinIssues(Array.from({ length: 5 }, (_, i) => `m${i}`))).toBe("m0; m1; m2; m3; m4");
    expect(joinIssues(Array.from({ length: 8 }, (_, i) => `m${i}`))).toBe("m0; m1; m2; m3; m4; and 3 more (8 in all)");
  });
});
