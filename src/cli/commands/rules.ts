import { describeAction, probesFor, type HoldLimit, type Rule } from "../../rules/rules.js";
import { statusPlansFor } from "../../sweep/sweep-plan.js";
import { formatDuration } from "../../rules/duration.js";
import { statusName } from "../../rules/status.js";
import { table } from "../format.js";

/** A rule for `rules --json`: statuses by name and code, as `stuck --json` gives them. */
export function ruleJson(rule: Rule) {
  const action = rule.action.kind === "revert" ? { ...rule.action, to: statusName(rule.action.to), toCode: rule.action.to } : rule.action;
  return { status: statusName(rule.status), code: rule.status, enabled: rule.enabled, stuckAfter: rule.stuckAfter, stuckAfterSeconds: rule.stuckAfterSeconds, action, hold: rule.hold, rateHold: rule.rateHold, workspaces: rule.workspaces };
}

export function printRules(rules: readonly Rule[], json: boolean): void {
  if (json) {
    console.log(JSON.stringify(rules.map(ruleJson), null, 2));
    return;
  }
  const rows = rules.flatMap((r) => [
    [`${statusName(r.status)} (${r.status})`, "all other workspaces", threshold(r.enabled, r.stuckAfter), formatDuration(r.stuckAfterSeconds), describeHold(r.enabled ? r.hold : null), describeAction(r.action)],
    ...r.workspaces.map((o) => ["", `workspaces ${o.workspaceIds.join(", ")}`, threshold(o.enabled, o.stuckAfter), formatDuration(o.stuckAfterSeconds), describeHold(o.enabled ? o.hold : null), ""]),
  ]);
  console.log(table(["stuck in", "applies to", "threshold", "", "hold when more than", "action"], rows));
  const plans = statusPlansFor(rules);
  console.log("A rule or override that is off is not swept; the reprocess guard still treats its tasks as in flight until its threshold (docs/reprocess.md).");
  console.log(`\n${plans.length} status(es) swept, one statement each whatever their workspace overrides; ${probesFor(rules).length} probe(s), each with its own hold.`);
}

/** "PT4H", or "off (PT4H)" where the sweep does not act but the guard keeps the threshold. */
const threshold = (enabled: boolean, stuckAfter: string) => (enabled ? stuckAfter : `off (${stuckAfter})`);

function describeHold(hold: HoldLimit | null): string {
  if (hold === null) return "off";
  const parts = [hold.maxTasks === null ? null : `${hold.maxTasks}`, hold.maxShare === null ? null : `${hold.maxShare * 100}% of the status`].filter((p) => p !== null);
  return parts.join(" or ");
}
