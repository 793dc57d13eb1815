// The audit trail of what people did to the watchdog (table operator_actions): pause, resume,
// release of a held status, replay of webhook events. One writer, called by the shared action
// functions (src/ops/actions.ts) whichever way the action came: the CLI, the operator console or
// the ops endpoint. Rows are inserted; a release's row then gets its sweep job's id once the job is
// queued, or is deleted when the job could not be queued (releaseAction: the record commits first).
import type { Db } from "./db/client.js";

export type OperatorActionKind = "pause" | "resume" | "release" | "replay";
/** Where an action came from. */
export type ActionVia = "cli" | "console" | "ops-api";

export interface OperatorAction {
  id: string;
  action: OperatorActionKind;
  actor: string;
  reason: string | null;
  via: ActionVia;
  details: Record<string, unknown>;
  createdAt: Date;
}

/** A transaction client or the client itself: both run tagged $queryRaw. */
export type RawQuery = Pick<Db, "$queryRaw">;

/**
 * recordOperatorAction — In: the action, who, why, from where, what exactly. Does: inserts one row.
 * Locks: none beyond the insert. Out: the row's id (a replay's id).
 */
export async function recordOperatorAction(db: RawQuery, entry: { action: OperatorActionKind; actor: string; reason: string | null; via: ActionVia; details: Record<string, unknown> }): Promise<string> {
  const rows = await db.$queryRaw<{ id: string }[]>`
    INSERT INTO operator_actions (action, actor, reason, via, details)
    VALUES (${entry.action}, ${entry.actor}, ${entry.reason}, ${entry.via}, ${JSON.stringify(entry.details)}::jsonb)
    RETURNING id::text AS id`;
  return rows[0]!.id;
}

/** listOperatorActions — the latest `limit` actions, newest first. No locks. */
export async function listOperatorActions(db: RawQuery, limit: number): Promise<OperatorAction[]> {
  const rows = await db.$queryRaw<{ id: string; action: OperatorActionKind; actor: string; reason: string | null; via: ActionVia; details: Record<string, unknown>; created_at: Date }[]>`
    SELECT id::text AS id, action, actor, reason, via, details, created_at FROM operator_actions ORDER BY id DESC LIMIT ${limit}::int`;
  return rows.map((r) => ({ id: r.id, action: r.action, actor: r.actor, reason: r.reason, via: r.via, details: r.details, createdAt: r.created_at }));
}

/**
 * An operator's request that cannot be done as asked. `kind` decides the CLI's exit code (2, 3, 4)
 * and the HTTP status (400, 404, 409); the message starts with it, as elsewhere (`BadRequest: …`).
 */
export class ActionError extends Error {
  override name = "ActionError";
  constructor(readonly kind: "BadRequest" | "NotFound" | "Conflict", message: string) {
    super(`${kind}: ${message}`);
  }
}
