// The reprocess guard's decision for every kind of status, at the boundaries of its threshold, and
// with force. Ages are by the database clock; the threshold is the effective rule's.
import { describe, expect, it } from "vitest";
import { decideReprocess, GUARDED_TRANSIENT_STATUSES, guardThresholdSeconds } from "../../src/reprocess/reprocess-guard.js";
import { buildRules } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";

const H = 3600;

describe("decideReprocess", () => {
  it.each([
    { name: "Deleting, any age", status: S.Deleting, age: 10 * H, threshold: H, refused: /^Conflict: task 7 is Deleting \(19\): a restart would bring back a task being deleted; request it with force/ },
    { name: "Deleted, any age", status: S.Deleted, age: 100 * H, threshold: null, refused: /^Conflict: task 7 is Deleted \(20\)/ },
    { name: "in flight, just started", status: S.ProcessingInProgress, age: 0, threshold: 4 * H, refused: /^Conflict: task 7 is ProcessingInProgress \(41\) for 0 s, not yet past its threshold of 14400 s: machine work is in flight/ },
    { name: "in flight, exactly at its threshold (the sweep calls it stuck only past it)", status: S.ProcessingInProgress, age: 4 * H, threshold: 4 * H, refused: /not yet past its threshold/ },
    { name: "queued, younger than its threshold", status: S.QueuedForPreProcessing, age: 60, threshold: 2 * H, refused: /QueuedForPreProcessing \(30\) for 60 s/ },
    { name: "in flight with no rule for its status", status: S.ExportInProgress, age: 99 * H, threshold: null, refused: /no rule says when it counts as stuck/ },
    { name: "in flight, a second past its threshold", status: S.ProcessingInProgress, age: 4 * H + 1, threshold: 4 * H, refused: null },
    { name: "stable (ToReview)", status: S.ToReview, age: 1, threshold: null, refused: null },
    { name: "stable (ProcessingFailed), young", status: S.ProcessingFailed, age: 0, threshold: null, refused: null },
    { name: "archivable (Processed)", status: S.Processed, age: 0, threshold: 24 * H, refused: null },
    { name: "a code this version does not know", status: 55, age: 0, threshold: null, refused: null },
  ])("$name", ({ status, age, threshold, refused }) => {
    const plain = decideReprocess({ status, statusAgeSeconds: age, thresholdSeconds: threshold, force: false }, "task 7");
    const forced = decideReprocess({ status, statusAgeSeconds: age, thresholdSeconds: threshold, force: true }, "task 7");
    if (refused === null) {
      expect(plain).toEqual({ allowed: true, forced: false, overridden: null });
      expect(forced).toEqual({ allowed: true, forced: true, overridden: null });
    } else {
      expect(plain.allowed).toBe(false);
      expect(!plain.allowed && plain.reason).toMatch(refused);
      // The forced counterpart restarts it, and says which refusal it overrode.
      expect(forced).toMatchObject({ allowed: true, forced: true, overridden: expect.stringMatching(/^task 7 is /) });
    }
  });
});

describe("the guard's threshold", () => {
  const rules = buildRules({ ProcessingInProgress: { stuckAfter: "PT6H", workspaces: [{ workspaceIds: [7, 8], stuckAfter: "PT1H" }, { workspaceIds: [9], enabled: false, stuckAfter: "PT30M" }, { workspaceIds: [10], enabled: false }] } });

  it("is the workspace override's for its workspaces (also when switched off there), the rule's elsewhere and where an override switched off names none, none for a status without a rule", () => {
    expect(guardThresholdSeconds(rules, S.ProcessingInProgress, 7)).toBe(H);
    expect(guardThresholdSeconds(rules, S.ProcessingInProgress, 8)).toBe(H);
    expect(guardThresholdSeconds(rules, S.ProcessingInProgress, 9)).toBe(1800);
    expect(guardThresholdSeconds(rules, S.ProcessingInProgress, 10)).toBe(6 * H);
    expect(guardThresholdSeconds(rules, S.ProcessingInProgress, 1)).toBe(6 * H);
    expect(guardThresholdSeconds(rules, S.ToReview, 1)).toBeNull();
    expect(GUARDED_TRANSIENT_STATUSES).toEqual([30, 31, 34, 40, 41, 60, 61]);
  });
});
