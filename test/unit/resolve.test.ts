// The one resolver of (status, workspace) → action, threshold, hold, watched; and its rows for SQL.
// The guard table covers every combination of: the rule on or off × a workspace override (none,
// on, off) × the override with or without a threshold of its own (an override that is on needs
// one: the loader refuses it without).
import { describe, expect, it } from "vitest";
import { decideReprocess } from "../../src/reprocess/reprocess-guard.js";
import { buildRules, DEFAULT_HOLD, RulesError } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { stuckVerdict } from "../../src/rules/stuck.js";
import { isStuck, resolve, thresholdRows, type ThresholdRows } from "../../src/rules/resolve.js";

const H = 3600;
const RULE = 4 * H; // ProcessingInProgress's default
const OWN = H; // the override's own threshold, when it has one

type Override = "none" | "on" | "off";
interface Case {
  rule: "on" | "off";
  override: Override;
  own: boolean;
}
const CASES: Case[] = (["on", "off"] as const).flatMap((rule) =>
  (["none", "on", "off"] as const).flatMap((override): Case[] => (override === "none" ? [{ rule, override, own: false }] : [true, false].map((own) => ({ rule, override, own })))),
);

function rulesFor(c: Case) {
  const workspaces =
    c.override === "none" ? undefined : [{ workspaceIds: [8], ...(c.override === "off" ? { enabled: false } : {}), ...(c.own ? { stuckAfter: "PT1H" } : {}) }];
  return buildRules({ ProcessingInProgress: { ...(c.rule === "off" ? { enabled: false } : {}), ...(workspaces ? { workspaces } : {}) } });
}

/** What each combination must give for a task of ProcessingInProgress in workspace 8. */
function expected(c: Case): { watched: boolean; threshold: number } | "refused at load" {
  if (c.override === "on" && !c.own) return "refused at load";
  const threshold = c.own ? OWN : RULE;
  const watched = c.override === "none" ? c.rule === "on" : c.override === "on";
  return { watched, threshold };
}

describe("the guard table: rule on/off × override none/on/off × own threshold or not", () => {
  it.each(CASES)("rule $rule, override $override, own threshold $own", (c) => {
    const want = expected(c);
    if (want === "refused at load") {
      expect(() => rulesFor(c)).toThrow(RulesError);
      return;
    }
    const rules = rulesFor(c);
    const r = resolve(rules, S.ProcessingInProgress, 8);
    expect({ watched: r.watched, threshold: r.stuckAfterSeconds }).toEqual(want);
    expect(r.hold).toEqual(want.watched ? DEFAULT_HOLD : null);

    // The guard refuses up to the threshold and allows past it — whether or not the sweep watches there.
    for (const [age, allowed] of [
      [20 * 60, false],
      [want.threshold, false],
      [want.threshold + 1, true],
    ] as const) {
      const decision = decideReprocess({ status: S.ProcessingInProgress, statusAgeSeconds: age, thresholdSeconds: r.stuckAfterSeconds, force: false });
      expect(decision.allowed, `age ${age}`).toBe(allowed);
    }
    // Stuck (read API, sweep) only where watched: then exactly where the guard allows.
    expect(stuckVerdict(rules, { status: S.ProcessingInProgress, workspaceId: 8, location: "INBOX", secondsInStatus: want.threshold + 1 })).toEqual({
      stuck: want.watched,
      stuckAfterSeconds: want.watched ? want.threshold : null,
    });
    // Another workspace follows the rule alone.
    const other = resolve(rules, S.ProcessingInProgress, 1);
    expect({ watched: other.watched, threshold: other.stuckAfterSeconds }).toEqual({ watched: c.rule === "on", threshold: RULE });
    // The rows for SQL say the same.
    expect(fromRows(thresholdRows(rules), S.ProcessingInProgress, 8)).toEqual({ seconds: want.threshold, watched: want.watched });
  });

  it("covers 10 combinations, one of them refused when the rules load", () => {
    expect(CASES).toHaveLength(10);
    expect(CASES.filter((c) => expected(c) === "refused at load")).toHaveLength(2);
  });
});

/** The SQL's selection, in JavaScript: the row naming the workspace, else the status's null row. */
function fromRows(rows: ThresholdRows, status: number, workspaceId: number) {
  const at = (i: number) => ({ seconds: rows.seconds[i]!, watched: rows.watched[i]! });
  const own = rows.statuses.findIndex((s, i) => s === status && rows.workspaceIds[i] === workspaceId);
  if (own >= 0) return at(own);
  const fallback = rows.statuses.findIndex((s, i) => s === status && rows.workspaceIds[i] === null);
  return fallback >= 0 ? at(fallback) : null;
}

describe("resolve", () => {
  const rules = buildRules({
    ProcessingInProgress: { hold: { maxTasks: 200 }, workspaces: [{ workspaceIds: [7], stuckAfter: "PT1H", hold: false }, { workspaceIds: [8], enabled: false }] },
    QueuedForExport: { action: "flag" },
  });

  it("a status without a rule: not watched, no threshold, no action", () => {
    expect(resolve(rules, S.ToReview, 1)).toMatchObject({ rule: null, action: null, watched: false, stuckAfterSeconds: null, hold: null, source: { kind: "none" } });
    expect(resolve(rules, 99, 1).watched).toBe(false);
  });

  it("the action is the rule's in every workspace; the hold is the probe's that applies", () => {
    expect(resolve(rules, S.ProcessingInProgress, 7)).toMatchObject({ action: { kind: "revert", to: S.ProcessingFailed }, hold: null, stuckAfterSeconds: H, source: { kind: "override", index: 0 } });
    expect(resolve(rules, S.ProcessingInProgress, 1)).toMatchObject({ hold: { maxTasks: 200, maxShare: null }, source: { kind: "rule" } });
    expect(resolve(rules, S.QueuedForExport, 1)).toMatchObject({ action: { kind: "flag" }, hold: null, watched: true });
  });

  it("stuck is strictly older than the threshold, in the inbox only", () => {
    const r = resolve(rules, S.ProcessingInProgress, 1);
    expect(isStuck(r, { location: "INBOX", secondsInStatus: RULE })).toBe(false);
    expect(isStuck(r, { location: "INBOX", secondsInStatus: RULE + 1 })).toBe(true);
    expect(isStuck(r, { location: "HISTORY", secondsInStatus: RULE + 1 })).toBe(false);
  });

  it("rows: per rule its overridden workspaces then a null row; probes count only watched overrides, then the rule", () => {
    const rows = thresholdRows(rules);
    const of = (status: number) => rows.statuses.flatMap((s, i) => (s === status ? [[rows.workspaceIds[i], rows.seconds[i], rows.watched[i], rows.probes[i]]] : []));
    expect(of(S.ProcessingInProgress)).toEqual([
      [7, H, true, 0],
      [8, RULE, false, -1],
      [null, RULE, true, 1],
    ]);
    expect(of(S.ToReview)).toEqual([]);
    expect(thresholdRows(rules)).toBe(rows); // built once per rules array
  });
});
