// What the operator console shows, as plain data: read by readConsoleState (console-state-read.ts),
// drawn by the pure views (views.ts). Each section is read on its own: one that fails (Redis away,
// a slow statement) shows its error and the others still show.
import type { Pause } from "../../sweep/pause.js";
import type { EscalatedTask } from "../../sweep/sql/find-escalated-tasks.js";
import type { TaskEventRow } from "../../api/read-api/sql/list-task-events.js";
import type { LastSweepHeld } from "../../sweep/last-sweep.js";
import type { GivenUpEvent, ReplaySummary } from "../../outbox/replay.js";
import type { OperatorAction } from "../../platform/operator-actions.js";
import type { StuckReportRow } from "../../sweep/stuck-report.js";

export type Section<T> = { ok: true; value: T } | { ok: false; error: string };

export interface SweepRun {
  jobId: string;
  state: "completed" | "failed";
  finishedAt: Date | null;
  dryRun: boolean;
  /** The sweep's result (completed), or null; a dry run's would* say what it would have done (its own counts stay 0). */
  result: { reverted: number; movedToHistory: number; flagged: number; escalated: number; wouldRevert?: number; wouldMoveToHistory?: number; wouldFlag?: number; held: string[]; paused: string[]; failed: string[]; released: string[]; durationMs: number; interrupted: boolean } | null;
  failedReason: string | null;
}

export interface DeliveryState {
  /** `queue` (the events queue), `dispatch` (new events not yet marked for their organizations), `webhook:<id>`. */
  target: string;
  /** null: the queue or the dispatch. */
  organizationId: number | null;
  /** Events not yet relayed (queue, dispatch; counted up to a cap); for an organization null = "some" (not counted), 0 = none. */
  pending: number | null;
  /** The oldest pending event's age (queue, dispatch), or how long the organization has had undelivered events. */
  oldestAgeSeconds: number;
  failingEventId: string | null;
  failingSince: Date | null;
  failedAttempts: number;
  lastError: string | null;
  /** When a failing organization is tried again. */
  nextAttemptAt: Date | null;
  deliveredCount: number | null;
}

/**
 * The relay targets (events queue, dispatch), and the organizations with an endpoint: those that need
 * attention first (failing, then undelivered the longest), at most a page of them; how many there
 * are in all, failing and with undelivered events.
 */
export interface OutboxState {
  targets: DeliveryState[];
  organizations: { total: number; failing: number; pending: number };
}

export interface ConsoleState {
  /** The database clock when read. */
  at: Date;
  rules: Section<StuckReportRow[]>;
  /** What the last completed sweep held, per status name (the level hold). */
  held: Section<Record<string, LastSweepHeld>>;
  /**
   * The rate hold (a burst of newly stuck tasks) per status name, when this version has one: null
   * means it does not exist here yet, and the console says so in its slot.
   */
  rateHeld: Section<Record<string, { detail: string }>> | null;
  pauses: Section<{ open: Pause[]; recent: Pause[] }>;
  sweeps: Section<SweepRun[]>;
  escalated: Section<{ minReverts: number; total: number; tasks: (EscalatedTask & { events: TaskEventRow[] })[] }>;
  outbox: Section<OutboxState>;
  givenUp: Section<{ total: number; events: GivenUpEvent[] }>;
  replays: Section<ReplaySummary[]>;
  actions: Section<OperatorAction[]>;
}

/** Statuses that have a rule, for the forms' choices. */
export interface RuleChoice {
  code: number;
  name: string;
}
