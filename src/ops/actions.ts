// What an operator can do to the watchdog, one function each, called by the `watchdog` CLI, the
// operator console and the ops endpoint alike: the same checks, the same statements, the same
// audit record (operator_actions, with where the action came from). Input arrives parsed by the
// shared schemas (pauseInputSchema, resumeInputSchema, releaseInputSchema, replayInputSchema).
import type { Queue } from "bullmq";
import { z } from "zod";
import type { Db } from "../platform/db/client.js";
import { pauseSweeps } from "../sweep/sql/pause-sweeps.js";
import { resumeSweeps } from "../sweep/sql/resume-sweeps.js";
import { actionReason, describePause, pauseRule, type Pause } from "../sweep/pause.js";
import type { Rule } from "../rules/rules.js";
import { statusName } from "../rules/status.js";
import { actorName, ruleStatus } from "../sweep/sweep-request.js";
import { enqueueSweep, type SweepJobData } from "../sweep/sweep-queue.js";
import { requestReplay, type ReplayDeps, type ReplayOutcome } from "../outbox/replay.js";
import type { ReplayRequest } from "../outbox/replay-request.js";
import { ActionError, recordOperatorAction, type ActionVia } from "../platform/operator-actions.js";

export const endedPause = (p: Pause) => ({ ...describePause(p), ended: p.endedHow, endedAt: p.endedAt?.toISOString() ?? null, endedBy: p.endedBy });

/** A reason as every action takes it (optional where the CLI never asked for one). */
export { actionReason };

/** `watchdog sweep --release` and the console's release: the statuses, who checked, why. */
export function releaseInputSchema(rules: readonly Rule[], reason: "required" | "optional") {
  return z.object({ release: z.array(ruleStatus(rules)).min(1, { error: "must name at least one held status" }).max(100), by: actorName(), reason: reason === "required" ? actionReason() : actionReason().optional() });
}

// Pause and resume write their audit row in the action's own transaction: never one without the other.
export async function pauseAction(db: Db, input: { rule?: number; for?: number; reason: string; by: string }, via: ActionVia) {
  const { pause, replaced } = await pauseSweeps(db, { status: input.rule ?? null, reason: input.reason, by: input.by, forSeconds: input.for ?? null }, (tx, { pause, replaced }) =>
    recordOperatorAction(tx, { action: "pause", actor: input.by, reason: input.reason, via, details: { rule: pauseRule(pause.status), until: pause.expiresAt?.toISOString() ?? null, pauseId: pause.id, replaced: replaced?.id ?? null } }),
  );
  return { paused: describePause(pause), replaced: replaced ? endedPause(replaced) : null };
}

/** Ends the open pause of one rule, or every one. NotFound when nothing (of that rule) was paused. */
export async function resumeAction(db: Db, input: { rule?: number; by: string; reason?: string }, via: ActionVia) {
  const resumedOf = (pauses: Pause[]) => pauses.filter((p) => p.endedHow === "RESUMED");
  const pauses = await resumeSweeps(db, { status: input.rule ?? null, by: input.by }, async (tx, ended) => {
    const resumed = resumedOf(ended);
    if (resumed.length === 0) return; // nothing resumed: NotFound below, and no audit row
    await recordOperatorAction(tx, { action: "resume", actor: input.by, reason: input.reason ?? null, via, details: { rule: input.rule === undefined ? "every pause" : pauseRule(input.rule), resumed: resumed.map((p) => pauseRule(p.status)) } });
  });
  const resumed = resumedOf(pauses);
  if (resumed.length === 0) {
    const what = input.rule === undefined ? "nothing is paused" : `${pauseRule(input.rule)} is not paused on its own (see \`watchdog status\`)`;
    throw new ActionError("NotFound", `${what}${pauses.length > 0 ? "; its pause had already expired" : ""}`);
  }
  return { resumed: resumed.map(endedPause), expired: pauses.filter((p) => p.endedHow === "EXPIRED").map(endedPause) };
}

/**
 * Release: one sweep now acts on these statuses' held tasks anyway (`releasedBy` in each event).
 * The audit record commits first, then the sweep job is queued, then the record is given the job's
 * id — as a replay commits its rows before its job is added (requestReplay). Queued inside the
 * record's transaction, a commit that failed after the add left the sweep queued and no record: a
 * release that ran unaudited. Now a database that refuses the record (at its insert or its commit)
 * queues nothing; a job that cannot be queued takes its record back and the caller gets the queue's
 * error (503, exit 1): neither is left. A record without `sweepJobId` is what the narrow windows
 * leave: a process stopped between the commit and the add, or a database lost just then (the record
 * cannot be taken back: never queued) or just after the add (queued; only the id is missing).
 */
export async function releaseAction(db: Db, queue: Pick<Queue<SweepJobData>, "add">, input: { release: number[]; by: string; reason?: string }, via: ActionVia, extra: { dryRun?: boolean; given?: (string | number)[] } = {}) {
  const statuses = [...new Set(input.release)].map(statusName);
  const dryRun = extra.dryRun ?? false;
  const actionId = await recordOperatorAction(db, { action: "release", actor: input.by, reason: input.reason ?? null, via, details: { statuses, dryRun } });
  let job: Awaited<ReturnType<typeof enqueueSweep>>;
  try {
    // The job data keeps the statuses as the operator wrote them (name or code), as before there was an audit record.
    job = await enqueueSweep(queue, { dryRun, release: extra.given ?? statuses, releasedBy: input.by });
  } catch (error) {
    await db.$executeRaw`DELETE FROM operator_actions WHERE id = ${actionId}::bigint`.catch(() => undefined);
    throw error;
  }
  // The release is queued and recorded: a failure to add the job's id to the record must not turn it into an error (done again, it would run twice).
  await db.$executeRaw`UPDATE operator_actions SET details = details || jsonb_build_object('sweepJobId', ${job.id ?? null}::text) WHERE id = ${actionId}::bigint`.catch(() => undefined);
  return { job, statuses };
}

export async function replayAction(deps: ReplayDeps, request: ReplayRequest, via: ActionVia): Promise<ReplayOutcome> {
  return requestReplay(deps, request, via);
}
