// recordGivenUp — the one write of the live delivery (delivery.ts) for the replays (replay.ts): the
// event it gives up after WEBHOOK_RETRY_FOR, so it can be listed and replayed. Re-giving-up the same
// event (a replay of it failed the same way) renews the row. One statement, its own transaction.
// Here, not in replay.ts, so that delivery and replay do not import each other.
import type { Queryable } from "./queryable.js";

export async function recordGivenUp(db: Queryable, entry: { eventId: string; organizationId: number; attempts: number; lastError: string }): Promise<void> {
  await db.query(
    `INSERT INTO webhook_given_up (event_id, organization_id, attempts, last_error) VALUES ($1::bigint, $2::int, $3::int, left($4, 500))
     ON CONFLICT (event_id) DO UPDATE SET attempts = EXCLUDED.attempts, last_error = EXCLUDED.last_error, given_up_at = now()`,
    [entry.eventId, entry.organizationId, entry.attempts, entry.lastError],
  );
}
