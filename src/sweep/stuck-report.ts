// What is stuck right now, per rule and workspace override: how many, since when the oldest, the
// threshold, the action, and whether the next sweep would hold them. Read-only; for the operator
// console. `watchdog stuck` (src/cli/commands/stuck.ts) builds the same rows inline, with the rate
// hold being added there: it should call this once both have landed (left apart to keep the two
// changes from colliding).
import type { Db } from "../platform/db/client.js";
import { countInboxPopulation, countStuckByProbe } from "./sql/count-stuck-by-probe.js";
import type { Rule } from "../rules/rules.js";
import { holdDecision, probeWorkspaces, statusPlansFor } from "./sweep-plan.js";

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
