// The benchmark's data: a realistic tasks table, written set-based (generate_series), never row
// by row. Every row is a pure function of its id (hashint4), so a run is reproducible and the
// small table (bench's second database) is exactly the first tenth of the large one.
//
// Shape per 1000 ids: 750 in HISTORY (600 Processed, 100 ExportCompleted, 50 Deleted, months old),
// 250 in the INBOX: 100 ToReview, 50 in the other stable statuses, 45 Processed / ExportCompleted
// younger than their 24 h threshold, 55 spread over the 8 transient statuses younger than 20 min.
// Payloads are ~350 bytes of JSON. With the default rules nothing is stuck.
import type pg from "pg";

/** Anything that runs a parameterised statement: a pg.Pool or pg.Client (the query-plan test seeds with a Client). */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<unknown>;
}

const TRANSIENT = [19, 30, 31, 34, 40, 41, 60, 61];

const ROW = `
  SELECT g.id,
         1 + g.id % 50 AS organization_id,
         (1 + g.id % 50) * 10 + h.b2 % 5 AS workspace_id,
         g.id / 200 AS batch_id,
         'ext-' || g.id AS external_id,
         'invoice-' || g.id || '.pdf' AS display_name,
         s.status::smallint AS status,
         s.location::task_location AS location,
         s.changed_at AS status_changed_at,
         CASE WHEN s.location = 'HISTORY' THEN s.changed_at END AS moved_to_history_at,
         jsonb_build_object(
           'fileName', 'invoice-' || g.id || '.pdf',
           'source', 'sftp://inbound.example.com/org-' || (1 + g.id % 50) || '/2026/11/',
           'contentType', 'application/pdf',
           'pages', 1 + h.b2 % 12,
           'sizeBytes', 20000 + h.b2 % 2000000,
           'sha256', md5(g.id::text) || md5((g.id + 1)::text),
           'requestedBy', 'api-client-' || (1 + g.id % 50),
           'options', jsonb_build_object('language', 'de', 'ocr', true, 'splitDocuments', false, 'profile', 'invoices-v3')
         ) AS original_payload,
         CASE WHEN s.status = 50 AND h.b2 % 3 = 0 THEN jsonb_build_object('fields', jsonb_build_object('total', '1234.50', 'currency', 'EUR')) END AS edits,
         s.changed_at - interval '5 minutes' AS created_on
  FROM generate_series($1::int, $2::int) AS g(id)
  CROSS JOIN LATERAL (SELECT abs(hashint4(g.id)) % 1000 AS b, abs(hashint4(g.id # 40503)) AS b2) h
  CROSS JOIN LATERAL (
    SELECT CASE
             WHEN h.b < 600 THEN 70 WHEN h.b < 700 THEN 63 WHEN h.b < 750 THEN 20
             WHEN h.b < 850 THEN 50 WHEN h.b < 870 THEN 42 WHEN h.b < 880 THEN 32 WHEN h.b < 885 THEN 33
             WHEN h.b < 890 THEN 35 WHEN h.b < 900 THEN 62 WHEN h.b < 930 THEN 70 WHEN h.b < 945 THEN 63
             ELSE (ARRAY[${TRANSIENT.join(",")}])[1 + h.b % ${TRANSIENT.length}]
           END AS status,
           CASE WHEN h.b < 750 THEN 'HISTORY' ELSE 'INBOX' END AS location,
           now() - CASE
             WHEN h.b < 750 THEN (1 + h.b2 % 700) * interval '1 day'
             WHEN h.b < 900 THEN (h.b2 % 30 * 86400 + h.b2 % 86400) * interval '1 second'
             WHEN h.b < 945 THEN (h.b2 % 72000) * interval '1 second'
             ELSE (h.b2 % 1200) * interval '1 second'
           END AS changed_at
  ) s`;

/** Empties the bench database (its own, see --database-url). */
export async function truncate(pool: Queryable): Promise<void> {
  await pool.query("TRUNCATE task_events, task_event_requests, task_assignments, tasks RESTART IDENTITY CASCADE");
}

/** Inserts tasks with ids from..to (inclusive) in chunks, then their assignments; keeps the id sequence ahead. */
export async function seedRange(pool: Queryable, from: number, to: number): Promise<void> {
  const chunk = 100_000;
  for (let lo = from; lo <= to; lo += chunk) {
    const hi = Math.min(to, lo + chunk - 1);
    await pool.query(
      `INSERT INTO tasks (id, organization_id, workspace_id, batch_id, external_id, display_name, status, location,
                          status_changed_at, moved_to_history_at, original_payload, edits, created_on)
       SELECT id, organization_id, workspace_id, batch_id, external_id, display_name, status, location,
              status_changed_at, moved_to_history_at, original_payload, edits, created_on
       FROM (${ROW}) r`,
      [lo, hi],
    );
    // Two reviewers per ToReview task, the assignment workflow reprocessing resets.
    await pool.query(
      `INSERT INTO task_assignments (task_id, user_id, position, status)
       SELECT t.id, 'reviewer-' || p.position, p.position, (CASE WHEN p.position = 1 THEN 'COMPLETED' ELSE 'IN_PROGRESS' END)::assignment_status
       FROM tasks t CROSS JOIN (VALUES (1), (2)) p(position)
       WHERE t.id BETWEEN $1 AND $2 AND t.status = 50`,
      [lo, hi],
    );
  }
  await pool.query(`SELECT setval(pg_get_serial_sequence('tasks', 'id'), (SELECT max(id) FROM tasks))`);
}

/**
 * Transient inbox tasks were seeded up to 20 min old; a long run would let them cross a 1 h
 * threshold. Re-stamp them (same status, so the trigger keeps them) before a steady-state figure.
 */
export async function freshenTransient(pool: Queryable): Promise<void> {
  await pool.query(
    `UPDATE tasks SET status_changed_at = now() - (abs(hashint4(id # 40503)) % 1200) * interval '1 second'
     WHERE location = 'INBOX' AND status = ANY($1::smallint[])`,
    [TRANSIENT],
  );
}

/** VACUUM + ANALYZE, so every repetition starts from the same clean table and fresh statistics. */
export async function vacuumAnalyze(pool: Queryable): Promise<void> {
  await pool.query("VACUUM (ANALYZE) tasks");
  await pool.query("VACUUM (ANALYZE) task_events");
  await pool.query("VACUUM (ANALYZE) task_assignments");
}

export interface TableShape {
  rows: number;
  inbox: number;
  sizeMb: number;
}

export async function tableShape(pool: pg.Pool): Promise<TableShape> {
  const { rows } = await pool.query<{ rows: number; inbox: number; size_mb: number }>(
    `SELECT count(*)::int AS rows, count(*) FILTER (WHERE location = 'INBOX')::int AS inbox,
            round(pg_total_relation_size('tasks') / 1048576.0)::int AS size_mb FROM tasks`,
  );
  return { rows: rows[0]!.rows, inbox: rows[0]!.inbox, sizeMb: rows[0]!.size_mb };
}
