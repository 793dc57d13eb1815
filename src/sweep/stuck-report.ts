// What is stuck right now, per rule and workspace override: how many, since when the oldest, the
// threshold, the action, and whether the next sweep would hold them; and each revert rule's rate
// hold, as the next sweep would judge it. Read-only; for the operator console and `watchdog stuck`
// (src/cli/commands/stuck.ts).
import type { Db } from "../platform/db/client.js";
import { countInboxPopulation, countStuckByProbe } from "./sql/count-stuck-by-probe.js";
import type { Rule } from "../rules/rules.js";
import { holdDecision, probeWorkspaces, rateDecision, statusPlansFor } from "./sweep-plan.js";
import { countRecentReverts } from "./sql/count-recent-reverts.js";

export interface StuckReportRow {
  status: string;
  code: number;
  workspaces: number[] | "others";
  action: string;
  stuckAfterSeconds: number;
  count: number;
  oldestSince: string | null;
  oldestForSeconds: number | null;
  sampleTaskIds: number[];
  holdLimit: number | null;
  wouldHold: boolean;
}

/** Overrides with nothing stuck are left out: a platform with thousands of them gets the lines that matter. */
export async function stuckReport(db: Db, rules: readonly Rule[]): Promise<{ at: Date; rows: StuckReportRow[] }> {
  const [{ now }] = (await db.$queryRaw<{ now: Date }[]>`SELECT now() AS now`) as [{ now: Date }];
  const rows: StuckReportRow[] = [];
  for (const plan of statusPlansFor(rules)) {
    const { byProbe } = await countStuckByProbe(db, plan);
    let population: number | undefined;
    for (const [index, probe] of plan.probes.entries()) {
      const stuck = byProbe.get(index) ?? { count: 0, oldestSince: null, sampleTaskIds: [] };
      if (probe.onlyWorkspaceIds !== null && stuck.count === 0) continue;
      if (probe.hold?.maxShare != null && stuck.count > (probe.hold.maxTasks ?? 0)) population ??= await countInboxPopulation(db, plan.status);
      const hold = holdDecision(probe.hold, stuck.count, population ?? 0);
      rows.push({
        status: plan.statusName,
        code: plan.status,
        workspaces: probeWorkspaces(probe),
        action: plan.action.kind,
        stuckAfterSeconds: probe.stuckAfterSeconds,
        count: stuck.count,
        oldestSince: stuck.oldestSince?.toISOString() ?? null,
        oldestForSeconds: stuck.oldestSince ? Math.floor((now.getTime() - stuck.oldestSince.getTime()) / 1000) : null,
        sampleTaskIds: stuck.sampleTaskIds,
        holdLimit: hold?.limit ?? null,
        wouldHold: hold?.held ?? false,
      });
    }
  }
  return { at: now, rows };
}

export interface RateHoldReportRow {
  status: string;
  code: number;
  /** Reverts of the status within the window (every replica's). */
  reverts: number;
  /** What the next sweep would revert: the stuck tasks of the status's probes the level hold would not hold. */
  wouldRevert: number;
  limit: number;
  normalPerWindow: number;
  window: string;
  wouldHold: boolean;
}

/** The rate hold of each revert rule with something to revert, as the next sweep would judge it (the same history, every replica's). */
export async function rateHoldReport(db: Db, rules: readonly Rule[], rows: readonly StuckReportRow[]): Promise<RateHoldReportRow[]> {
  const report: RateHoldReportRow[] = [];
  for (const plan of statusPlansFor(rules)) {
    const wouldRevert = rows.filter((r) => r.code === plan.status && !r.wouldHold).reduce((n, r) => n + r.count, 0);
    if (plan.action.kind !== "revert" || plan.rateHold === null || wouldRevert === 0) continue;
    const rate = plan.rateHold;
    const history = await countRecentReverts(db, plan.status, rate.windowSeconds, rate.baselineSeconds);
    const decision = rateDecision(rate, history, wouldRevert);
    report.push({ status: plan.statusName, code: plan.status, reverts: history.inWindow, wouldRevert, limit: decision.limit, normalPerWindow: decision.normalPerWindow, window: rate.window, wouldHold: decision.held });
  }
  return report;
}
