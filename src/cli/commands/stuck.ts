import type { Config } from "../../platform/config/settings.js";
import type { Rule } from "../../rules/rules.js";
import { holdDecision, probeWorkspaces, rateDecision, statusPlansFor } from "../../sweep/sweep-plan.js";
import { formatDuration } from "../../rules/duration.js";
import { statusName } from "../../rules/status.js";
import { createDb } from "../../platform/db/client.js";
import { countInboxPopulation, countStuckByProbe } from "../../sweep/sql/count-stuck-by-probe.js";
import { countRecentReverts } from "../../sweep/sql/count-recent-reverts.js";
import { findEscalatedTasks } from "../../sweep/sql/find-escalated-tasks.js";
import { table } from "../format.js";

/**
 * Read-only: per rule and workspace override, how many tasks are stuck right now, since when the
 * oldest, and whether the next sweep would hold them; then the tasks that need support (reverted
 * ESCALATE_AFTER_REVERTS times or more and still warned). Overrides with nothing stuck are left
 * out: a platform with thousands of them gets the lines that matter.
 */
export async function printStuck(config: Config, rules: readonly Rule[], json: boolean): Promise<void> {
  const db = createDb(config.databaseUrl, { max: 1, statementTimeoutMs: config.databaseStatementTimeoutMs, connectTimeoutMs: config.databaseConnectTimeoutMs });
  try {
    const [{ now }] = (await db.$queryRaw<{ now: Date }[]>`SELECT now() AS now`) as [{ now: Date }];
    const report = [];
    const rateHolds = [];
    for (const plan of statusPlansFor(rules)) {
      const { byProbe } = await countStuckByProbe(db, plan);
      let population: number | undefined;
      let wouldRevert = 0;
      for (const [index, probe] of plan.probes.entries()) {
        const stuck = byProbe.get(index) ?? { count: 0, oldestSince: null, sampleTaskIds: [] };
        if (probe.onlyWorkspaceIds !== null && stuck.count === 0) continue;
        if (probe.hold?.maxShare != null && stuck.count > (probe.hold.maxTasks ?? 0)) population ??= await countInboxPopulation(db, plan.status);
        const hold = holdDecision(probe.hold, stuck.count, population ?? 0);
        report.push({
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
        if (!hold?.held) wouldRevert += stuck.count;
      }
      // The rate hold, as the next sweep would judge it (the same history, every replica's).
      if (plan.action.kind === "revert" && plan.rateHold !== null && wouldRevert > 0) {
        const rate = plan.rateHold;
        const history = await countRecentReverts(db, plan.status, rate.windowSeconds, rate.baselineSeconds);
        const decision = rateDecision(rate, history, wouldRevert);
        rateHolds.push({ status: plan.statusName, code: plan.status, reverts: history.inWindow, wouldRevert, limit: decision.limit, normalPerWindow: decision.normalPerWindow, window: rate.window, wouldHold: decision.held });
      }
    }
    const escalated = await findEscalatedTasks(db, config.escalateAfterReverts);
    if (json) {
      console.log(JSON.stringify({ at: now.toISOString(), stuck: report, rateHolds, needsSupport: { minReverts: config.escalateAfterReverts, ...escalated } }, null, 2));
      return;
    }
    console.log(
      table(
        ["stuck in", "workspaces", "threshold", "stuck now", "oldest for", "hold limit", "e.g. task ids"],
        report.map((r) => [
          `${r.status} (${r.code})`,
          r.workspaces === "others" ? "others" : r.workspaces.join(","),
          formatDuration(r.stuckAfterSeconds),
          r.count,
          r.oldestForSeconds === null ? "-" : formatDuration(r.oldestForSeconds),
          r.holdLimit === null ? "off" : r.wouldHold ? `${r.holdLimit}: WOULD HOLD` : r.holdLimit,
          r.sampleTaskIds.join(", "),
        ]),
      ),
    );
    const total = report.reduce((n, r) => n + r.count, 0);
    console.log(`\n${total} task(s) stuck at ${now.toISOString()} (database clock).`);
    const held = report.filter((r) => r.wouldHold);
    if (held.length > 0) console.log(`The next sweep would hold ${held.map((r) => r.status).join(", ")}: more stuck than the limit, so none of them would be acted on (see docs/safety.md).`);
    for (const r of rateHolds.filter((r) => r.wouldHold)) {
      console.log(`${r.status} would be held by its rate hold: ${r.reverts} reverted in the last ${r.window} and ${r.wouldRevert} more stuck, more than its rate limit of ${r.limit} (see docs/safety.md).`);
    }
    console.log(`\n${escalated.total} task(s) need support (reverted ${config.escalateAfterReverts} times or more, still warned)${escalated.total > 0 ? ":" : "."}`);
    if (escalated.tasks.length > 0) {
      console.log(
        table(
          ["task", "status", "workspace", "reverts", "warning"],
          escalated.tasks.map((t) => [t.id, `${statusName(t.status)} (${t.status})`, t.workspaceId, t.autoRevertCount, t.warningReason ?? ""]),
        ),
      );
    }
  } finally {
    await db.$disconnect();
  }
}
