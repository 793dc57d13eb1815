import type { Config } from "../../config/settings.js";
import { probesFor, type Rule } from "../../domain/rules.js";
import { formatDuration } from "../../domain/duration.js";
import { createDb } from "../../db/client.js";
import { countStuckTasks } from "../../db/sql/count-stuck-tasks.js";
import { table } from "../format.js";

/** Read-only: per rule, how many tasks are stuck right now and since when the oldest. */
export async function printStuck(config: Config, rules: readonly Rule[], json: boolean): Promise<void> {
  const db = createDb(config.databaseUrl, { max: 1, statementTimeoutMs: config.databaseStatementTimeoutMs, connectTimeoutMs: config.databaseConnectTimeoutMs });
  try {
    const [{ now }] = (await db.$queryRaw<{ now: Date }[]>`SELECT now() AS now`) as [{ now: Date }];
    const report = [];
    for (const probe of probesFor(rules)) {
      const stuck = await countStuckTasks(db, probe);
      report.push({
        status: probe.statusName,
        code: probe.status,
        workspaces: probe.onlyWorkspaceIds ? probe.onlyWorkspaceIds.join(",") : "others",
        action: probe.action.kind,
        stuckAfterSeconds: probe.stuckAfterSeconds,
        count: stuck.count,
        oldestSince: stuck.oldestSince?.toISOString() ?? null,
        oldestForSeconds: stuck.oldestSince ? Math.floor((now.getTime() - stuck.oldestSince.getTime()) / 1000) : null,
        sampleTaskIds: stuck.sampleTaskIds,
      });
    }
    if (json) {
      console.log(JSON.stringify({ at: now.toISOString(), stuck: report }, null, 2));
      return;
    }
    console.log(
      table(
        ["stuck in", "workspaces", "threshold", "stuck now", "oldest for", "e.g. task ids"],
        report.map((r) => [
          `${r.status} (${r.code})`,
          r.workspaces,
          formatDuration(r.stuckAfterSeconds),
          r.count,
          r.oldestForSeconds === null ? "-" : formatDuration(r.oldestForSeconds),
          r.sampleTaskIds.join(", "),
        ]),
      ),
    );
    const total = report.reduce((n, r) => n + r.count, 0);
    console.log(`\n${total} task(s) stuck at ${now.toISOString()} (database clock).`);
  } finally {
    await db.$disconnect();
  }
}
