import type { Config } from "../../platform/config/settings.js";
import type { Rule } from "../../rules/rules.js";
import { formatDuration } from "../../rules/duration.js";
import { statusName } from "../../rules/status.js";
import { createDb } from "../../platform/db/client.js";
import { rateHoldReport, stuckReport } from "../../sweep/stuck-report.js";
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
    const { at: now, rows: report } = await stuckReport(db, rules);
    const rateHolds = await rateHoldReport(db, rules, report);
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
