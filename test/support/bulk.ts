// Bulk reprocess over HTTP, and the figures the tests judge it by — read from the database's own
// rows (the REPROCESSED events and the items' processed_at), never from the worker's word.
import { expect } from "vitest";
import type { Db } from "../../src/platform/db/client.js";
import { BULK_CANCEL_PATH, BULK_REPROCESS_PATH } from "../../src/api/bulk-reprocess.js";
import { BulkProgressBody } from "../../src/reprocess/bulk-bodies.js";

export interface BulkCall {
  query?: string;
  body?: unknown;
  key?: string;
  token: string;
}

export function postBulk(apiUrl: string, call: BulkCall): Promise<Response> {
  const headers: Record<string, string> = { authorization: `Bearer ${call.token}` };
  if (call.key !== undefined) headers["idempotency-key"] = call.key;
  if (call.body !== undefined) headers["content-type"] = "application/json";
  return fetch(`${apiUrl}${BULK_REPROCESS_PATH}${call.query ?? ""}`, { method: "POST", headers, ...(call.body === undefined ? {} : { body: JSON.stringify(call.body) }) });
}

export async function bulkProgress(apiUrl: string, token: string, bulkId: string) {
  const response = await fetch(`${apiUrl}${BULK_REPROCESS_PATH}?bulkId=${bulkId}`, { headers: { authorization: `Bearer ${token}` } });
  const body = await response.json();
  expect(response.status, JSON.stringify(body)).toBe(200);
  return BulkProgressBody.parse(body);
}

export function cancelBulk(apiUrl: string, token: string, bulkId: string): Promise<Response> {
  return fetch(`${apiUrl}${BULK_CANCEL_PATH}?bulkId=${bulkId}`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
}

/** Polls the progress (every 100 ms) until the bulk is no longer running. */
export async function waitUntilFinished(apiUrl: string, token: string, bulkId: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const progress = await bulkProgress(apiUrl, token, bulkId);
    if (progress.state !== "running") return progress;
    if (Date.now() > deadline) throw new Error(`bulk ${bulkId} still running after ${timeoutMs} ms: ${JSON.stringify(progress)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export interface PaceFigures {
  /** REPROCESSED events carrying the bulk id. */
  events: number;
  /** Tasks with more than one REPROCESSED event of the bulk. */
  appliedTwice: number;
  /** The most events in one calendar second (date_trunc), by the events' own timestamps. */
  maxPerSecond: number;
  /** The most events in any window (t - 1 s, t], t an event's timestamp. */
  maxPerSlidingSecond: number;
  /** Distinct calendar seconds with an event. */
  seconds: number;
  /** From the bulk's acceptance to its finish, in seconds (the bulk row's timestamps). */
  durationSeconds: number;
  /** From the first event to the last, in seconds. */
  spanSeconds: number;
}

export async function paceFigures(db: Db, bulkId: string): Promise<PaceFigures> {
  const [row] = await db.$queryRaw<PaceFigures[]>`
    WITH e AS (
      SELECT task_id, created_at FROM task_events WHERE kind = 'REPROCESSED' AND details ->> 'bulkId' = ${bulkId}
    ), per_second AS (
      SELECT date_trunc('second', created_at) AS s, count(*) AS n FROM e GROUP BY 1
    ), instants AS (
      SELECT created_at AS t, count(*) AS n FROM e GROUP BY 1
    )
    SELECT (SELECT count(*)::int FROM e) AS events,
           (SELECT count(*)::int FROM (SELECT task_id FROM e GROUP BY task_id HAVING count(*) > 1) x) AS "appliedTwice",
           (SELECT coalesce(max(n), 0)::int FROM per_second) AS "maxPerSecond",
           (SELECT coalesce(max(n), 0)::int FROM (
              SELECT (SELECT sum(i2.n) FROM instants i2 WHERE i2.t > i1.t - interval '1 second' AND i2.t <= i1.t) AS n FROM instants i1) w) AS "maxPerSlidingSecond",
           (SELECT count(*)::int FROM per_second) AS seconds,
           (SELECT extract(epoch FROM finished_at - created_at)::float8 FROM bulk_reprocesses WHERE id = ${bulkId}) AS "durationSeconds",
           (SELECT extract(epoch FROM max(created_at) - min(created_at))::float8 FROM e) AS "spanSeconds"`;
  return row!;
}
