import { describe, expect, it } from "vitest";
import { buildRules } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { stuckVerdict, type TaskAge } from "../../src/rules/stuck.js";

// Defaults: ProcessingInProgress PT4H, Processed PT24H (archivable), ToReview stable (no rule).
// Overrides: workspace 7 watched after PT1H, workspace 8 switched off; QueuedForExport disabled
// except in workspace 9 (PT10M).
const rules = buildRules({
  ProcessingInProgress: {
    workspaces: [
      { workspaceIds: [7], stuckAfter: "PT1H" },
      { workspaceIds: [8], enabled: false },
    ],
  },
  QueuedForExport: { enabled: false, workspaces: [{ workspaceIds: [9], stuckAfter: "PT10M" }] },
});

const task = (status: number, secondsInStatus: number, workspaceId = 1, location: TaskAge["location"] = "INBOX"): TaskAge => ({ status, workspaceId, location, secondsInStatus });

describe("whether a task is stuck", () => {
  it.each([
    ["a transient status younger than its threshold", task(S.ProcessingInProgress, 4 * 3600 - 1), false, 14_400],
    ["exactly at its threshold (the sweep wants strictly older)", task(S.ProcessingInProgress, 4 * 3600), false, 14_400],
    ["older than its threshold", task(S.ProcessingInProgress, 4 * 3600 + 1), true, 14_400],
    ["an archivable status older than its threshold", task(S.Processed, 86_401), true, 86_400],
    ["a stable status however old", task(S.ToReview, 10 * 86_400), false, null],
    ["in history, however old", task(S.ProcessingInProgress, 10 * 86_400, 1, "HISTORY"), false, 14_400],
    ["a workspace override's shorter threshold, passed", task(S.ProcessingInProgress, 3601, 7), true, 3600],
    ["a workspace override's shorter threshold, not yet passed", task(S.ProcessingInProgress, 3599, 7), false, 3600],
    ["a workspace the override switches off", task(S.ProcessingInProgress, 10 * 86_400, 8), false, null],
    ["a disabled rule", task(S.QueuedForExport, 10 * 86_400, 1), false, null],
    ["a disabled rule's enabled override", task(S.QueuedForExport, 601, 9), true, 600],
    ["a status this version does not know", task(99, 10 * 86_400), false, null],
  ])("%s → stuck %s (threshold %s s)", (_case, age, stuck, stuckAfterSeconds) => {
    expect(stuckVerdict(rules, age)).toEqual({ stuck, stuckAfterSeconds });
  });

  it("a flag (report-only) rule's tasks are stuck too: the action does not matter", () => {
    const flagged = rules.map((r) => (r.status === S.ProcessingInProgress ? { ...r, action: { kind: "flag" } as never } : r));
    expect(stuckVerdict(flagged, task(S.ProcessingInProgress, 4 * 3600 + 1))).toEqual({ stuck: true, stuckAfterSeconds: 14_400 });
  });
});
