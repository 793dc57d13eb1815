// Every default rule (docs/contract.md, "Rules") against real PostgreSQL, at its boundaries. Fixtures are named by the
// boundary they probe; time is moved by writing status_changed_at, never by sleeping.
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { buildRules } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { runSweep } from "../../src/sweep/run-sweep.js";
import { eventsOf, getTask, insertTasks, resetTables, testDb } from "../support/db.js";

const db = testDb();
const rules = buildRules();
const sweep = (dryRun = false, batchSize = 1000) => runSweep(db, rules, { sweepId: `sweep-${Math.random()}`, dryRun, batchSize });

const H = 3600;
const MARGIN = 60; // one minute either side of a threshold

beforeEach(() => resetTables(db));
afterAll(() => db.$disconnect());

const revertCases = [
  { from: S.QueuedForPreProcessing, threshold: 2 * H, to: S.PreProcessingFailed },
  { from: S.PreProcessingInProgress, threshold: 2 * H, to: S.PreProcessingFailed },
  { from: S.PreProcessingSuccessful, threshold: 1 * H, to: S.ProcessingFailed },
  { from: S.QueuedForProcessing, threshold: 2 * H, to: S.ProcessingFailed },
  { from: S.ProcessingInProgress, threshold: 4 * H, to: S.ProcessingFailed },
  { from: S.QueuedForExport, threshold: 1 * H, to: S.ToReview },
  { from: S.ExportInProgress, threshold: 1 * H, to: S.ToReview },
];

describe("when a task sits in a transient status", () => {
  it.each(revertCases)("status $from: just under the threshold stays, just over is reverted to $to", async ({ from, threshold, to }) => {
    const [justUnder, justOver] = await insertTasks(db, [
      { status: from, ageSeconds: threshold - MARGIN },
      { status: from, ageSeconds: threshold + MARGIN },
    ]);
    const result = await sweep();
    expect(result.reverted).toBe(1);

    const under = await getTask(db, justUnder!);
    expect(under).toMatchObject({ status: from, warning: false, auto_revert_count: 0 });

    const over = await getTask(db, justOver!);
    expect(over).toMatchObject({ status: to, previous_status: from, warning: true, auto_revert_count: 1, location: "INBOX" });
    expect(over.warning_reason).toMatch(/^stuck in \w+ for \d+ h( \d+ min)? \(threshold \d+ h\); reverted to \w+$/);

    const events = await eventsOf(db, justOver!);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ kind: "AUTO_REVERTED", from_status: from, to_status: to, actor: "watchdog", sweep_id: result.sweepId, reason: over.warning_reason });
    expect(events[0]!.stuck_since).toBeInstanceOf(Date);
  });
});

describe("when a task is stuck in Deleting", () => {
  it("goes back to its previous status when that is stable, else to PreProcessingFailed", async () => {
    const [fromToReview, fromTransient, fromNothing, deletingRecently] = await insertTasks(db, [
      { status: S.Deleting, previousStatus: S.ToReview, ageSeconds: H + MARGIN },
      { status: S.Deleting, previousStatus: S.ProcessingInProgress, ageSeconds: H + MARGIN },
      { status: S.Deleting, previousStatus: null, ageSeconds: H + MARGIN },
      { status: S.Deleting, previousStatus: S.ToReview, ageSeconds: H - MARGIN },
    ]);
    const result = await sweep();
    expect(result.reverted).toBe(3);
    expect(result.byStatus.Deleting?.to).toEqual({ ToReview: 1, PreProcessingFailed: 2 });
    expect((await getTask(db, fromToReview!)).status).toBe(S.ToReview);
    expect((await getTask(db, fromTransient!)).status).toBe(S.PreProcessingFailed);
    expect((await getTask(db, fromNothing!)).status).toBe(S.PreProcessingFailed);
    expect((await getTask(db, deletingRecently!)).status).toBe(S.Deleting);
    expect((await getTask(db, fromToReview!)).warning_reason).toBe("stuck in Deleting for 1 h 1 min (threshold 1 h); reverted to ToReview");
  });
});

describe("when a finished task lingers in the inbox", () => {
  it.each([S.ExportCompleted, S.Processed])("status %i: just over 24 h moves to history with its status unchanged", async (status) => {
    const [justUnder, justOver] = await insertTasks(db, [
      { status, ageSeconds: 24 * H - MARGIN },
      { status, ageSeconds: 24 * H + MARGIN },
    ]);
    const result = await sweep();
    expect(result).toMatchObject({ reverted: 0, movedToHistory: 1 });
    expect(await getTask(db, justUnder!)).toMatchObject({ status, location: "INBOX", warning: false, moved_to_history_at: null });
    const moved = await getTask(db, justOver!);
    expect(moved).toMatchObject({ status, location: "HISTORY", warning: true, auto_revert_count: 0 });
    expect(moved.moved_to_history_at).toBeInstanceOf(Date);
    expect(moved.warning_reason).toMatch(/; moved to history$/);
    expect(await eventsOf(db, justOver!)).toMatchObject([{ kind: "MOVED_TO_HISTORY", from_status: status, to_status: null }]);
  });
});

describe("what the sweep never touches", () => {
  it("leaves stable statuses and history rows alone however old they are", async () => {
    const stable = [S.Deleted, S.PreProcessingFailed, S.PreProcessingDownloadFailed, S.PreProcessingGetPagesFailed, S.ProcessingFailed, S.ToReview, S.ExportFailed];
    const ids = await insertTasks(db, [
      ...stable.map((status) => ({ status, ageSeconds: 365 * 24 * H })),
      { status: S.ProcessingInProgress, ageSeconds: 365 * 24 * H, location: "HISTORY" as const },
      { status: S.Processed, ageSeconds: 365 * 24 * H, location: "HISTORY" as const },
    ]);
    const before = await Promise.all(ids.map((id) => getTask(db, id)));
    const result = await sweep();
    expect(result).toMatchObject({ reverted: 0, movedToHistory: 0, byStatus: {} });
    expect(await Promise.all(ids.map((id) => getTask(db, id)))).toEqual(before);
  });
});

describe("a dry run", () => {
  it("reports per status what it would do and writes nothing", async () => {
    const ids = await insertTasks(db, [
      { status: S.ProcessingInProgress, ageSeconds: 5 * H },
      { status: S.ProcessingInProgress, ageSeconds: 6 * H },
      { status: S.Processed, ageSeconds: 25 * H },
    ]);
    const before = await Promise.all(ids.map((id) => getTask(db, id)));
    const result = await sweep(true);
    // A dry run did nothing: its totals say what it would do, never "reverted".
    expect(result).toMatchObject({ dryRun: true, reverted: 0, movedToHistory: 0, wouldRevert: 2, wouldMoveToHistory: 1, wouldFlag: 0 });
    expect(result.byStatus.ProcessingInProgress).toMatchObject({ action: "revert", count: 2, to: { ProcessingFailed: 2 }, sampleTaskIds: [ids[1], ids[0]] });
    expect(result.byStatus.Processed).toMatchObject({ action: "moveToHistory", count: 1, sampleTaskIds: [ids[2]] });
    expect(await Promise.all(ids.map((id) => getTask(db, id)))).toEqual(before);
    const [{ n }] = (await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM task_events`) as [{ n: number }];
    expect(n).toBe(0);
  });
});

describe("sweeping again", () => {
  it("finds nothing new, and a large backlog drains in bounded batches", async () => {
    await insertTasks(db, Array.from({ length: 250 }, () => ({ status: S.QueuedForProcessing, ageSeconds: 3 * H })));
    const first = await sweep(false, 100);
    expect(first.reverted).toBe(250);
    const second = await sweep(false, 100);
    expect(second).toMatchObject({ reverted: 0, movedToHistory: 0, byStatus: {} });
    const [{ n }] = (await db.$queryRaw<{ n: number }[]>`SELECT count(DISTINCT task_id)::int AS n FROM task_events`) as [{ n: number }];
    expect(n).toBe(250);
  });
});

describe("configured overrides, against the database", () => {
  it("a per-workspace threshold beats the global rule, a disabled rule or workspace is left alone", async () => {
    const custom = buildRules({
      PreProcessingInProgress: { workspaces: [{ workspaceIds: [7], stuckAfter: "PT30M" }, { workspaceIds: [8], enabled: false }] },
      QueuedForExport: { enabled: false },
    });
    const [ws7JustOver, ws7JustUnder, ws1AtHalfHour, ws1JustOver, ws8Ancient, exportOff] = await insertTasks(db, [
      { status: S.PreProcessingInProgress, workspaceId: 7, ageSeconds: 30 * 60 + MARGIN },
      { status: S.PreProcessingInProgress, workspaceId: 7, ageSeconds: 30 * 60 - MARGIN },
      { status: S.PreProcessingInProgress, workspaceId: 1, ageSeconds: 30 * 60 + MARGIN },
      { status: S.PreProcessingInProgress, workspaceId: 1, ageSeconds: 2 * H + MARGIN },
      { status: S.PreProcessingInProgress, workspaceId: 8, ageSeconds: 100 * H },
      { status: S.QueuedForExport, ageSeconds: 100 * H },
    ]);
    const result = await runSweep(db, custom, { sweepId: "overrides", dryRun: false, batchSize: 1000 });
    expect(result.reverted).toBe(2);
    expect((await getTask(db, ws7JustOver!)).status).toBe(S.PreProcessingFailed);
    expect((await getTask(db, ws7JustOver!)).warning_reason).toBe("stuck in PreProcessingInProgress for 31 min (threshold 30 min); reverted to PreProcessingFailed");
    expect((await getTask(db, ws1JustOver!)).status).toBe(S.PreProcessingFailed);
    for (const id of [ws7JustUnder, ws1AtHalfHour, ws8Ancient]) expect((await getTask(db, id!)).status).toBe(S.PreProcessingInProgress);
    expect((await getTask(db, exportOff!)).status).toBe(S.QueuedForExport);
  });
});
