// The quiet sweep's one read-only check answers every status in one round trip: the plain statuses
// through one LATERAL, those with workspace overrides by workspace. The answers come back in two
// arrays and are put back in plan order: a status between others, with or without overrides, with
// or without a stuck task, must be answered as itself.
import { afterAll, beforeEach, expect, it } from "vitest";
import { buildRules } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { findStatusesWithStuckTasks, INLINE_OVERRIDES } from "../../src/sweep/sql/find-statuses-with-stuck-tasks.js";
import { statusPlansFor } from "../../src/sweep/sweep-plan.js";
import { insertTasks, resetTables, testDb } from "../support/db.js";

const db = testDb();
beforeEach(() => resetTables(db));
afterAll(() => db.$disconnect());

const HOUR = 3600;
const rules = buildRules({
  // Judged by workspace (a few overrides: inline) and by workspace in a second round trip (many).
  PreProcessingInProgress: { workspaces: [{ workspaceIds: [7], stuckAfter: "PT30M" }, { workspaceIds: [8], enabled: false }] },
  ExportInProgress: { workspaces: [{ workspaceIds: Array.from({ length: INLINE_OVERRIDES + 5 }, (_, i) => 1000 + i), enabled: false }] },
});
const plans = statusPlansFor(rules);
const names = async () => (await findStatusesWithStuckTasks(db, plans)).map((p) => p.statusName).sort();

it("nothing stuck: no status", async () => {
  await insertTasks(db, [{ status: S.ProcessingInProgress, ageSeconds: 60 }, { status: S.PreProcessingInProgress, ageSeconds: 60, workspaceId: 7 }]);
  expect(await names()).toEqual([]);
});

it("each status answers for itself, in whichever array its answer came back", async () => {
  await insertTasks(db, [
    // Plain descents: one stuck, one not.
    { status: S.ProcessingInProgress, ageSeconds: 10 * HOUR },
    { status: S.QueuedForProcessing, ageSeconds: 60 },
    // By workspace: stuck in workspace 7 (30 min), not in workspace 8 (switched off) however old.
    { status: S.PreProcessingInProgress, ageSeconds: 2 * HOUR, workspaceId: 8 },
    { status: S.PreProcessingInProgress, ageSeconds: 45 * 60, workspaceId: 7 },
    // Many overrides: old, but only in a switched-off workspace.
    { status: S.ExportInProgress, ageSeconds: 10 * HOUR, workspaceId: 1003 },
  ]);
  expect(await names()).toEqual(["PreProcessingInProgress", "ProcessingInProgress"]);
});

it("the same tasks in other workspaces: the overridden statuses judged by their rule", async () => {
  await insertTasks(db, [
    { status: S.PreProcessingInProgress, ageSeconds: 2 * HOUR, workspaceId: 8 },
    { status: S.ExportInProgress, ageSeconds: 10 * HOUR, workspaceId: 1 },
  ]);
  expect(await names()).toEqual(["ExportInProgress"]);
});
