import { describe, expect, it } from "vitest";
import { buildRules, DEFAULT_HOLD, DEFAULT_RATE_HOLD, describeAction, probesFor, RulesError, type Rule } from "../../src/rules/rules.js";
import { rateDecision } from "../../src/sweep/sweep-plan.js";
import { TaskStatus as S } from "../../src/rules/status.js";

const rule = (rules: Rule[], status: number) => rules.find((r) => r.status === status);

function problemsOf(overrides: Record<string, unknown>): string[] {
  try {
    buildRules(overrides);
  } catch (error) {
    if (error instanceof RulesError) return [...error.problems];
    throw error;
  }
  throw new Error("expected buildRules to refuse these overrides");
}

describe("the default rules", () => {
  const rules = buildRules();

  it.each([
    [S.Deleting, 3600, { kind: "revert", to: S.PreProcessingFailed, toPreviousIfStable: true }],
    [S.QueuedForPreProcessing, 7200, { kind: "revert", to: S.PreProcessingFailed, toPreviousIfStable: false }],
    [S.PreProcessingInProgress, 7200, { kind: "revert", to: S.PreProcessingFailed, toPreviousIfStable: false }],
    [S.PreProcessingSuccessful, 3600, { kind: "revert", to: S.ProcessingFailed, toPreviousIfStable: false }],
    [S.QueuedForProcessing, 7200, { kind: "revert", to: S.ProcessingFailed, toPreviousIfStable: false }],
    [S.ProcessingInProgress, 14400, { kind: "revert", to: S.ProcessingFailed, toPreviousIfStable: false }],
    [S.QueuedForExport, 3600, { kind: "revert", to: S.ToReview, toPreviousIfStable: false }],
    [S.ExportInProgress, 3600, { kind: "revert", to: S.ToReview, toPreviousIfStable: false }],
    [S.ExportCompleted, 86400, { kind: "moveToHistory" }],
    [S.Processed, 86400, { kind: "moveToHistory" }],
  ])("status %i: stuck after %i s, then %o", (status, seconds, action) => {
    expect(rule(rules, status)).toMatchObject({ enabled: true, stuckAfterSeconds: seconds, action, workspaces: [] });
  });

  it("has no rule for a stable status and yields one probe per rule", () => {
    expect(rules).toHaveLength(10);
    expect(probesFor(rules)).toHaveLength(10);
  });
});

describe("overrides", () => {
  it("change a threshold by status name or code, and switch a rule off", () => {
    const rules = buildRules({ ProcessingInProgress: { stuckAfter: "PT6H" }, "60": { enabled: false } });
    expect(rule(rules, S.ProcessingInProgress)?.stuckAfterSeconds).toBe(6 * 3600);
    expect(rule(rules, S.QueuedForExport)?.enabled).toBe(false);
    expect(probesFor(rules).map((p) => p.status)).not.toContain(S.QueuedForExport);
  });

  it("narrow a rule per workspace: the override probes its workspaces, the global rule every other one", () => {
    const rules = buildRules({
      PreProcessingInProgress: {
        workspaces: [
          { workspaceIds: [7, 9], stuckAfter: "PT30M" },
          { workspaceIds: [3], enabled: false },
        ],
      },
    });
    const probes = probesFor(rules).filter((p) => p.status === S.PreProcessingInProgress);
    expect(probes).toEqual([
      expect.objectContaining({ onlyWorkspaceIds: [7, 9], exceptWorkspaceIds: [], stuckAfterSeconds: 1800 }),
      expect.objectContaining({ onlyWorkspaceIds: null, exceptWorkspaceIds: [7, 9, 3], stuckAfterSeconds: 7200 }),
    ]);
  });

  it("keep workspace overrides alive when the global rule is switched off", () => {
    const rules = buildRules({ ProcessingInProgress: { enabled: false, workspaces: [{ workspaceIds: [5], stuckAfter: "PT1H" }] } });
    const probes = probesFor(rules).filter((p) => p.status === S.ProcessingInProgress);
    expect(probes).toEqual([expect.objectContaining({ onlyWorkspaceIds: [5], stuckAfterSeconds: 3600 })]);
  });

  it("choosing a new revertTo for Deleting drops the previous-status behaviour unless asked to keep it", () => {
    expect(rule(buildRules({ Deleting: { revertTo: "ToReview" } }), S.Deleting)?.action).toEqual({ kind: "revert", to: S.ToReview, toPreviousIfStable: false });
    expect(rule(buildRules({ Deleting: { revertTo: 50, revertToPreviousIfStable: true } }), S.Deleting)?.action).toEqual({ kind: "revert", to: S.ToReview, toPreviousIfStable: true });
  });
});

describe("invariants checked at start-up", () => {
  it.each([
    ["a transient revert target", { QueuedForExport: { revertTo: "ExportInProgress" } }, /rule "QueuedForExport": cannot revert to ExportInProgress \(61\), a transient status/],
    ["an archivable revert target", { ProcessingInProgress: { revertTo: "Processed" } }, /cannot revert to Processed \(70\), a archivable status/],
    ["an unknown revert target", { ProcessingInProgress: { revertTo: "Nope" } }, /rule "ProcessingInProgress": revertTo must name a stable status .*got "Nope"/],
    ["a rule on a stable status", { ToReview: { stuckAfter: "PT1H" } }, /rule "ToReview": ToReview is a stable status/],
    ["an unknown status", { Stuckish: { stuckAfter: "PT1H" } }, /rule "Stuckish": unknown status/],
    ["move to history of a transient status", { ExportInProgress: { action: "moveToHistory" } }, /only archivable statuses .* can be moved to history/],
    ["an unknown action", { Processed: { action: "delete" } }, /rule "Processed": action must be "revert", "moveToHistory" or "flag", got the string "delete"/],
    ["hold of the wrong type", { Processed: { hold: 500 } }, /rule "Processed": hold must be false, true \(the defaults\) or \{"maxTasks"/],
    ["hold with a misspelt field", { Processed: { hold: { maxtasks: 5 } } }, /rule "Processed": hold: unknown field "maxtasks"/],
    ["hold with a negative count", { Processed: { hold: { maxTasks: -1 } } }, /rule "Processed": hold\.maxTasks must be a whole number from 0 to 2147483647, got number -1/],
    ["hold with a fractional count", { Processed: { hold: { maxTasks: 2.5 } } }, /hold\.maxTasks must be a whole number.*got number 2\.5/],
    ["hold with a share above 1", { Processed: { hold: { maxShare: 1.5 } } }, /hold\.maxShare must be a number above 0 and at most 1.*got number 1\.5/],
    ["hold with a share of 0", { Processed: { hold: { maxShare: 0 } } }, /hold\.maxShare must be a number above 0/],
    ["hold that sets no limit", { Processed: { hold: {} } }, /rule "Processed": hold sets no limit; give "maxTasks" and\/or "maxShare" \(and "rate" for the rate hold\), or write "hold": false/],
    ["a rate hold with a window too long", { ProcessingInProgress: { hold: { rate: { window: "P2D" } } } }, /hold\.rate\.window must be at most P1D/],
    ["a rate hold with a misspelt field", { ProcessingInProgress: { hold: { rate: { maxReverts: 5, multiple: 2 } } } }, /hold\.rate: unknown field "multiple"/],
    ["a rate hold in a workspace override", { ProcessingInProgress: { workspaces: [{ workspaceIds: [4], stuckAfter: "PT1H", hold: { maxTasks: 5, rate: false } }] } }, /workspaces\[0\]\.hold\.rate: the rate hold counts a status's reverts in every workspace; set "hold": \{"rate": …\} on the rule itself/],
    ["an override's bad hold", { Processed: { workspaces: [{ workspaceIds: [4], stuckAfter: "PT1H", hold: { maxShare: "half" } }] } }, /workspaces\[0\]\.hold\.maxShare must be a number.*got the string "half"/],
    ["a malformed duration", { Processed: { stuckAfter: "24h" } }, /rule "Processed": stuckAfter is not an ISO-8601 duration; write e\.g\. "PT30M", "PT2H" or "P1D", got the string "24h"/],
    ["a zero duration", { Processed: { stuckAfter: "PT0S" } }, /must be at least one second long/],
    ["a negative duration", { Processed: { stuckAfter: "-PT1H" } }, /must be at least one second long/],
    ["a month (varies in length)", { Processed: { stuckAfter: "P1M" } }, /uses months or years/],
    ["a threshold past the bound", { Processed: { stuckAfter: "P30000D" } }, /rule "Processed": stuckAfter must be at most P3650D \(315360000 s\), got the string "P30000D"/],
    ["the same rule by code and by name", { "41": { stuckAfter: "PT5H" }, ProcessingInProgress: { stuckAfter: "PT6H" } }, /rule "ProcessingInProgress" is given twice \("41" and "ProcessingInProgress"\); keep one/],
    ["a list of workspace ids empty", { Processed: { workspaces: [{ workspaceIds: [], stuckAfter: "PT1H" }] } }, /workspaces\[0\]\.workspaceIds must list at least one workspace id/],
    ["a rules wrapper that is null", { rules: null }, /rules must be an object keyed by status name/],
    ["a rules wrapper that is a list", { rules: [] }, /rules must be an object keyed by status name/],
    ["a misspelt field", { Processed: { stuckafter: "PT1H" } }, /rule "Processed": unknown field "stuckafter"; allowed: enabled, stuckAfter/],
    ["enabled not boolean", { Processed: { enabled: "no" } }, /rule "Processed": enabled must be true or false, got the string "no"/],
    ["workspace ids not positive integers", { Processed: { workspaces: [{ workspaceIds: [0, 1.5], stuckAfter: "PT1H" }] } }, /workspaces\[0\]\.workspaceIds\[0\] must be a workspace id from 1 to 2147483647, got number 0/],
    ["a workspace listed twice", { Processed: { workspaces: [{ workspaceIds: [4], stuckAfter: "PT1H" }, { workspaceIds: [4], stuckAfter: "PT2H" }] } }, /workspaces\[1\]\.workspaceIds names workspace 4, which another override of this rule names too/],
    ["an override without a threshold", { Processed: { workspaces: [{ workspaceIds: [4] }] } }, /workspaces\[0\]\.stuckAfter must be an ISO-8601 duration .*an enabled override needs its own threshold/],
  ])("%s is refused with a message naming the rule", (_, overrides, message) => {
    const problems = problemsOf(overrides);
    expect(problems.join("\n")).toMatch(message);
  });

  it("reports every problem at once", () => {
    expect(problemsOf({ ToReview: {}, Processed: { stuckAfter: "x" }, Nope: {} })).toHaveLength(3);
  });

  it("accepts a rule for an archivable status that reverts to a stable one", () => {
    expect(rule(buildRules({ ExportCompleted: { action: "revert", revertTo: "ToReview" } }), S.ExportCompleted)?.action).toMatchObject({ kind: "revert", to: S.ToReview });
  });
});

describe("the rate hold (per revert rule)", () => {
  it("is on by default for reverts with 1000 per PT1H or 3 × the normal rate over P1D; off for other actions and with hold false", () => {
    const rules = buildRules({ QueuedForExport: { hold: false }, ExportInProgress: { hold: { maxTasks: 50 } }, ProcessingInProgress: { hold: { maxTasks: 50, rate: { maxReverts: 10, window: "PT10M" } } }, QueuedForProcessing: { hold: { rate: false } } });
    const of = (status: number) => rules.find((r) => r.status === status)!;
    expect(of(S.PreProcessingInProgress).rateHold).toEqual(DEFAULT_RATE_HOLD);
    expect(DEFAULT_RATE_HOLD).toEqual({ maxReverts: 1000, normalMultiple: 3, window: "PT1H", windowSeconds: 3600, baseline: "P1D", baselineSeconds: 86_400 });
    expect(of(S.Processed).rateHold).toBeNull();
    expect(of(S.QueuedForExport).rateHold).toBeNull();
    // A hold object without "rate" keeps the default rate hold; one that names fields keeps the others' defaults.
    expect(of(S.ExportInProgress)).toMatchObject({ hold: { maxTasks: 50, maxShare: null }, rateHold: DEFAULT_RATE_HOLD });
    expect(of(S.ProcessingInProgress).rateHold).toEqual({ ...DEFAULT_RATE_HOLD, maxReverts: 10, window: "PT10M", windowSeconds: 600 });
    // Only a rate hold given: the level hold keeps its default ("rate": false switches only the rate hold off).
    expect(of(S.QueuedForProcessing)).toMatchObject({ hold: DEFAULT_HOLD, rateHold: null });
  });

  it("holds when the window's reverts plus this sweep's would pass max(maxReverts, floor(normalMultiple × normal per window))", () => {
    expect(rateDecision(DEFAULT_RATE_HOLD, { inWindow: 900, inBaseline: 0 }, 100)).toEqual({ held: false, limit: 1000, normalPerWindow: 0 });
    expect(rateDecision(DEFAULT_RATE_HOLD, { inWindow: 900, inBaseline: 0 }, 101)).toMatchObject({ held: true, limit: 1000 });
    // 24,000 over a day = 1,000 an hour: the limit is 3,000.
    expect(rateDecision(DEFAULT_RATE_HOLD, { inWindow: 2900, inBaseline: 24_000 }, 100)).toEqual({ held: false, limit: 3000, normalPerWindow: 1000 });
    expect(rateDecision(DEFAULT_RATE_HOLD, { inWindow: 2900, inBaseline: 24_000 }, 101)).toMatchObject({ held: true });
  });
});

describe("hold (the circuit breaker of each probe)", () => {
  it("is on by default for reverts, off for move-to-history and for report-only rules", () => {
    const rules = buildRules({ QueuedForExport: { action: "flag" } });
    expect(rule(rules, S.ProcessingInProgress)?.hold).toEqual(DEFAULT_HOLD);
    expect(DEFAULT_HOLD).toEqual({ maxTasks: 500, maxShare: 0.1 });
    expect(rule(rules, S.Processed)?.hold).toBeNull();
    expect(rule(rules, S.QueuedForExport)?.hold).toBeNull();
  });

  it("is configured per rule: false switches it off, true asks for the defaults, an object names its limits", () => {
    const rules = buildRules({
      ProcessingInProgress: { hold: false },
      Processed: { hold: true },
      QueuedForProcessing: { hold: { maxTasks: 50 } },
      QueuedForExport: { hold: { maxShare: 0.25 } },
    });
    expect(rule(rules, S.ProcessingInProgress)?.hold).toBeNull();
    expect(rule(rules, S.Processed)?.hold).toEqual(DEFAULT_HOLD);
    expect(rule(rules, S.QueuedForProcessing)?.hold).toEqual({ maxTasks: 50, maxShare: null });
    expect(rule(rules, S.QueuedForExport)?.hold).toEqual({ maxTasks: null, maxShare: 0.25 });
  });

  it("is inherited by a workspace override that omits it, and each override may set its own", () => {
    const rules = buildRules({
      ProcessingInProgress: {
        hold: { maxTasks: 200 },
        workspaces: [
          { workspaceIds: [7], stuckAfter: "PT1H" },
          { workspaceIds: [8], stuckAfter: "PT1H", hold: { maxTasks: 5 } },
          { workspaceIds: [9], stuckAfter: "PT1H", hold: false },
        ],
      },
    });
    expect(rule(rules, S.ProcessingInProgress)?.workspaces.map((o) => o.hold)).toEqual([{ maxTasks: 200, maxShare: null }, { maxTasks: 5, maxShare: null }, null]);
    expect(probesFor(rules).filter((p) => p.status === S.ProcessingInProgress).map((p) => p.hold)).toEqual([
      { maxTasks: 200, maxShare: null },
      { maxTasks: 5, maxShare: null },
      null,
      { maxTasks: 200, maxShare: null },
    ]);
  });

  it("follows the final action when the rules change it and say nothing about hold", () => {
    expect(rule(buildRules({ Processed: { action: "revert", revertTo: "ToReview" } }), S.Processed)?.hold).toEqual(DEFAULT_HOLD);
    expect(rule(buildRules({ ProcessingInProgress: { action: "flag" } }), S.ProcessingInProgress)?.hold).toBeNull();
  });
});

describe("report-only rules (action flag)", () => {
  it("are accepted for transient and archivable statuses and described as changing nothing but the warning", () => {
    const rules = buildRules({ ProcessingInProgress: { action: "flag" }, Processed: { action: "flag" } });
    expect(rule(rules, S.ProcessingInProgress)?.action).toEqual({ kind: "flag" });
    expect(rule(rules, S.Processed)?.action).toEqual({ kind: "flag" });
    expect(describeAction({ kind: "flag" })).toMatch(/flag only .*status unchanged/);
  });
});
