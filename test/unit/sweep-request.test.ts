import { describe, expect, it } from "vitest";
import { buildRules } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { parseSweepJobData } from "../../src/sweep/sweep-request.js";

const rules = buildRules();
const error = (data: unknown) => {
  const parsed = parseSweepJobData(data, rules);
  return parsed.ok ? undefined : parsed.error;
};

describe("parseSweepJobData", () => {
  it.each([[{}], [undefined], [{ dryRun: false }]])("when the data is %j, then it is a real sweep", (data) => {
    expect(parseSweepJobData(data, rules)).toEqual({ ok: true, request: { dryRun: false, release: null } });
  });

  it("when dryRun is true, then it is a dry run", () => {
    expect(parseSweepJobData({ dryRun: true }, rules)).toEqual({ ok: true, request: { dryRun: true, release: null } });
  });

  it("when release names statuses by name, code or numeric string, then they become codes and releasedBy is trimmed", () => {
    expect(parseSweepJobData({ release: ["queuedforprocessing", 41, "30"], releasedBy: " ann " }, rules)).toEqual({
      ok: true,
      request: { dryRun: false, release: { statuses: new Set([S.QueuedForProcessing, S.ProcessingInProgress, S.QueuedForPreProcessing]), by: "ann" } },
    });
  });

  it.each([
    [{ dryrun: true }, 'BadRequest: unknown field "dryrun"; allowed: dryRun, release, releasedBy (names are case-sensitive)'],
    [{ dry_run: true, x: 1 }, 'BadRequest: unknown fields "dry_run", "x"; allowed: dryRun, release, releasedBy (names are case-sensitive)'],
    ["dry-run", 'BadRequest: job data must be an object such as {} or {"dryRun": true}, got the string "dry-run"'],
    [[true], 'BadRequest: job data must be an object such as {} or {"dryRun": true}, got an array'],
    [null, 'BadRequest: job data must be an object such as {} or {"dryRun": true}, got null'],
    [{ dryRun: "true" }, 'BadRequest: dryRun must be true or false, got the string "true"'],
    [{ release: ["QueuedForProcessing"] }, "BadRequest: releasedBy is needed with release (who checked the held tasks, for the audit trail)"],
    [{ releasedBy: "ann" }, "BadRequest: release is needed with releasedBy (releasedBy alone releases nothing)"],
    [{ release: [], releasedBy: "ann" }, "BadRequest: release must have at least 1 item(s), got an array"],
  ])("when the data is %j, then the message is exact", (data, message) => {
    expect(error(data)).toBe(message);
  });

  it("when a released status is unknown or has no rule, then the item and the allowed statuses are named", () => {
    expect(error({ release: ["Nonsense"], releasedBy: "ann" })).toMatch(/^BadRequest: release\[0\] must be a status name or code that has a rule \(Deleting, .*QueuedForProcessing.*\), got the string "Nonsense"$/);
    expect(error({ release: [50], releasedBy: "ann" })).toMatch(/^BadRequest: release\[0\] names ToReview, which has no rule; statuses with a rule: Deleting, .*, got number 50$/);
    expect(error({ release: [true], releasedBy: "ann" })).toMatch(/^BadRequest: release\[0\] must be a status name or code that has a rule .*, got boolean true$/);
  });

  it("when releasedBy is empty, too long or holds control characters, then it is refused", () => {
    expect(error({ release: [41], releasedBy: "  " })).toBe('BadRequest: releasedBy must not be empty, got the string ""');
    expect(error({ release: [41], releasedBy: "x".repeat(201) })).toMatch(/^BadRequest: releasedBy must be at most 200 characters/);
    expect(error({ release: [41], releasedBy: "ann\u0000" })).toMatch(/^BadRequest: releasedBy must not contain control characters/);
    expect(error({ release: [41], releasedBy: "ann\nbob" })).toMatch(/control characters/);
  });

  it.each([
    ["a right-to-left override", "ann\u202Ebob"],
    ["a first-strong isolate", "ann\u2068bob"],
    ["a line separator", "ann\u2028bob"],
    ["a next line (C1)", "ann\u0085bob"],
  ])("when releasedBy holds %s, which reorders or breaks the audit line it is shown in, then it is refused", (_, releasedBy) => {
    expect(error({ release: [41], releasedBy })).toMatch(/^BadRequest: releasedBy must not contain control characters, line separators or bidirectional controls/);
  });
});
