// One sweep: every probe of the rules, batch after batch until nothing is left (or a shutdown
// asks us to stop between batches). Each batch is one statement, so one transaction; a backlog
// of any size never becomes one giant transaction.
import { probesFor, type Probe, type Rule } from "../domain/rules.js";
import { statusName } from "../domain/status.js";
import type { Db } from "../db/client.js";
import { revertStuckTasks, type BatchOutcome } from "../db/sql/revert-stuck-tasks.js";
import { moveFinishedTasksToHistory } from "../db/sql/move-finished-tasks-to-history.js";
import { countStuckTasks } from "../db/sql/count-stuck-tasks.js";
import { findProbesWithStuckTasks } from "../db/sql/find-probes-with-stuck-tasks.js";

export interface StatusSummary {
  action: Probe["action"]["kind"];
  count: number;
  /** Per target status name, for reverts (Deleting may go to several). */
  to?: Record<string, number>;
  /** A few of the task ids acted on (or, in a dry run, that would be). */
  sampleTaskIds: number[];
  /** Dry run only: since when the oldest of them has been stuck. */
  oldestSince?: string;
}

export interface SweepResult {
  sweepId: string;
  dryRun: boolean;
  reverted: number;
  movedToHistory: number;
  byStatus: Record<string, StatusSummary>;
  /** Paused statuses that had stuck tasks: what would have been done; nothing was. */
  paused: Record<string, { stuck: number; sampleTaskIds: number[] }>;
  durationMs: number;
  /** True when a shutdown stopped the sweep between batches; the next sweep picks up the rest. */
  interrupted: boolean;
}

export interface SweepOptions {
  sweepId: string;
  dryRun: boolean;
  batchSize: number;
  /** Paused statuses (or all) report what they would do and act on none. */
  pause?: { all: boolean; statuses: ReadonlySet<number> };
  /** Held probes of these statuses act anyway, for this sweep (the hold lands with the sweep helper's change). */
  release?: { statuses: ReadonlySet<number>; by: string };
  /** Checked between batches: true stops the sweep after the batch in flight. */
  shouldStop?: () => boolean;
  /** Called after every committed batch (metrics, progress). */
  onBatch?: (probe: Probe, outcomes: BatchOutcome[]) => void;
}

const MAX_SAMPLE_IDS = 10;

export async function runSweep(db: Db, rules: readonly Rule[], options: SweepOptions): Promise<SweepResult> {
  const started = performance.now();
  const result: SweepResult = { sweepId: options.sweepId, dryRun: options.dryRun, reverted: 0, movedToHistory: 0, byStatus: {}, paused: {}, durationMs: 0, interrupted: false };
  // One round trip says which probes have stuck tasks; a quiet sweep ends there, and the batch
  // statements run only where there is work (see find-probes-with-stuck-tasks.ts).
  for (const probe of await findProbesWithStuckTasks(db, probesFor(rules))) {
    if (options.shouldStop?.()) {
      result.interrupted = true;
      break;
    }
    if (options.pause?.all || options.pause?.statuses.has(probe.status)) {
      const stuck = await countStuckTasks(db, probe, MAX_SAMPLE_IDS);
      if (stuck.count === 0) continue;
      const entry = (result.paused[probe.statusName] ??= { stuck: 0, sampleTaskIds: [] });
      entry.stuck += stuck.count;
      entry.sampleTaskIds.push(...stuck.sampleTaskIds.slice(0, MAX_SAMPLE_IDS - entry.sampleTaskIds.length));
      continue;
    }
    if (options.dryRun) {
      const stuck = await countStuckTasks(db, probe, MAX_SAMPLE_IDS);
      if (stuck.count > 0) {
        const summary = record(result, probe, [{ toStatus: probe.action.kind === "revert" ? probe.action.to : null, count: stuck.count, sampleTaskIds: stuck.sampleTaskIds }]);
        const oldest = stuck.oldestSince?.toISOString();
        if (oldest && (!summary.oldestSince || oldest < summary.oldestSince)) summary.oldestSince = oldest;
        // A dry run cannot know a Deleting task's previous status without reading every row; say so.
        if (probe.action.kind === "revert" && probe.action.toPreviousIfStable) summary.to = { [`previous status if stable, else ${statusName(probe.action.to)}`]: summary.count };
      }
      continue;
    }
    // Report-only rules are parsed already; their statement (FLAGGED events) lands with the migration that adds the kind.
    if (probe.action.kind === "flag") continue;
    const act = probe.action.kind === "revert" ? revertStuckTasks : moveFinishedTasksToHistory;
    for (;;) {
      const outcomes = await act(db, probe, options.batchSize, options.sweepId);
      const done = outcomes.reduce((n, o) => n + o.count, 0);
      if (done > 0) {
        record(result, probe, outcomes);
        options.onBatch?.(probe, outcomes);
      }
      if (done < options.batchSize) break;
      if (options.shouldStop?.()) {
        result.interrupted = true;
        break;
      }
    }
    if (result.interrupted) break;
  }
  result.durationMs = Math.round(performance.now() - started);
  return result;
}

function record(result: SweepResult, probe: Probe, outcomes: BatchOutcome[]): StatusSummary {
  const summary = (result.byStatus[probe.statusName] ??= { action: probe.action.kind, count: 0, sampleTaskIds: [] });
  for (const o of outcomes) {
    summary.count += o.count;
    if (probe.action.kind === "revert") {
      result.reverted += o.count;
      const to = statusName(o.toStatus ?? probe.status);
      summary.to = { ...summary.to, [to]: (summary.to?.[to] ?? 0) + o.count };
    } else {
      result.movedToHistory += o.count;
    }
    for (const id of o.sampleTaskIds) if (summary.sampleTaskIds.length < MAX_SAMPLE_IDS) summary.sampleTaskIds.push(id);
  }
  return summary;
}
