// A skewed tasks table for the read API's bounds: one organization holds most of the tasks, the
// others are small, and the big one has NO task matching several filters (status 33, warning,
// stuck, in progress in history), which is the case that makes a row-by-row filter walk the whole
// organization. Set-based (generate_series); every row a pure function of its id, so the test
// (test/integration/read-api-bounds.test.ts) and the scale bench (bench/figures/scale-status-list.ts)
// build the same shape at different sizes.
//
// Per id: 4 in 5 belong to organization BIG_ORG (1), the rest to organizations 2..201, so the big
// organization's ids are spread over the whole id range, interleaved with the small ones'.
// Statuses as bench/seed.ts (three quarters in history, transient tasks young, nothing stuck in
// the big organization); only the small organizations have status 33, a warning, or stuck tasks
// (ProcessingInProgress for 5 hours).
import type { Queryable } from "./seed.js";

export const BIG_ORG = 1;
export const SMALL_ORGS = 200;
/** A small organization with stuck tasks, warnings and status 33: the baseline of the same run. */
export const SMALL_ORG = 2;

const TRANSIENT = [19, 30, 31, 34, 40, 41, 60, 61];

const ROW = `
  SELECT g.id,
         CASE WHEN g.id % 5 <> 0 THEN ${BIG_ORG} ELSE 2 + (g.id / 5) % ${SMALL_ORGS} END AS organization_id,
         h.b2 % 400 AS ws,
         h.b, h.b2
  FROM generate_series($1::int, $2::int) AS g(id)
  CROSS JOIN LATERAL (SELECT abs(hashint4(g.id)) % 1000 AS b, abs(hashint4(g.id # 40503)) AS b2) h`;

/** Inserts tasks with ids from..to (inclusive), in chunks; keeps the id sequence ahead. */
export async function seedSkewedTasks(db: Queryable, from: number, to: number): Promise<void> {
  const chunk = 100_000;
  for (let lo = from; lo <= to; lo += chunk) {
    const hi = Math.min(to, lo + chunk - 1);
    await db.query(
      `INSERT INTO tasks (id, organization_id, workspace_id, external_id, display_name, status, location, status_changed_at,
                          moved_to_history_at, warning, warning_reason, original_payload, created_on)
       SELECT r.id, r.organization_id, r.organization_id * 1000 + r.ws, 'ext-' || r.id, 'invoice-' || r.id || '.pdf',
              s.status, s.location::task_location, s.changed_at, CASE WHEN s.location = 'HISTORY' THEN s.changed_at END,
              s.warning, CASE WHEN s.warning THEN 'pages missing' END,
              jsonb_build_object('fileName', 'invoice-' || r.id || '.pdf', 'source', 'sftp://inbound.example.com/org-' || r.organization_id || '/2026/11/',
                                 'contentType', 'application/pdf', 'pages', 1 + r.b2 % 12, 'sizeBytes', 20000 + r.b2 % 2000000,
                                 'sha256', md5(r.id::text) || md5((r.id + 1)::text), 'requestedBy', 'api-client-' || r.organization_id,
                                 'options', jsonb_build_object('language', 'de', 'ocr', true, 'splitDocuments', false, 'profile', 'invoices-v3')),
              s.changed_at - interval '5 minutes'
       FROM (${ROW}) r
       CROSS JOIN LATERAL (
         SELECT CASE
                  WHEN r.organization_id <> ${BIG_ORG} AND r.b % 50 = 7 THEN 41
                  WHEN r.organization_id <> ${BIG_ORG} AND r.b % 50 = 9 THEN 33
                  WHEN r.b < 600 THEN 70 WHEN r.b < 700 THEN 63 WHEN r.b < 750 THEN 20
                  WHEN r.b < 850 THEN 50 WHEN r.b < 870 THEN 42 WHEN r.b < 885 THEN 32
                  WHEN r.b < 890 THEN 35 WHEN r.b < 900 THEN 62 WHEN r.b < 930 THEN 70 WHEN r.b < 945 THEN 63
                  ELSE (ARRAY[${TRANSIENT.join(",")}])[1 + r.b % ${TRANSIENT.length}]
                END::smallint AS status,
                CASE WHEN r.organization_id <> ${BIG_ORG} AND r.b % 50 IN (7, 9) THEN 'INBOX'
                     WHEN r.b < 750 THEN 'HISTORY' ELSE 'INBOX' END AS location,
                now() - CASE
                  WHEN r.organization_id <> ${BIG_ORG} AND r.b % 50 = 7 THEN interval '5 hours'
                  WHEN r.b < 750 THEN (1 + r.b2 % 700) * interval '1 day'
                  WHEN r.b < 900 THEN (r.b2 % 30 * 86400 + r.b2 % 86400) * interval '1 second'
                  WHEN r.b < 945 THEN (r.b2 % 72000) * interval '1 second'
                  ELSE (r.b2 % 1200) * interval '1 second'
                END AS changed_at,
                r.organization_id <> ${BIG_ORG} AND r.b % 10 = 3 AS warning
       ) s`,
      [lo, hi],
    );
  }
  await db.query(`SELECT setval(pg_get_serial_sequence('tasks', 'id'), (SELECT max(id) FROM tasks))`);
}

/** A status-list filter as the read API takes it (the same fields as TaskStatusFilter). */
export interface ListFilter {
  readonly statuses: readonly number[] | null;
  readonly warning: boolean | null;
  readonly location: "INBOX" | "HISTORY" | null;
  readonly stuck: boolean | null;
}

const none: ListFilter = { statuses: null, warning: null, location: null, stuck: null };

/** Every filter alone, and combined ones, with "(none)" where the big organization has no match. */
export const STATUS_LIST_FILTERS: readonly (readonly [string, ListFilter])[] = [
  ["no filter", none],
  ["status=41", { ...none, statuses: [41] }],
  ["status=33 (none)", { ...none, statuses: [33] }],
  ["status=40,41,70", { ...none, statuses: [40, 41, 70] }],
  ["warning=true (none)", { ...none, warning: true }],
  ["warning=false", { ...none, warning: false }],
  ["location=INBOX", { ...none, location: "INBOX" }],
  ["location=HISTORY", { ...none, location: "HISTORY" }],
  ["stuck=true (none)", { ...none, stuck: true }],
  ["stuck=false", { ...none, stuck: false }],
  ["status=41&location=HISTORY (none)", { ...none, statuses: [41], location: "HISTORY" }],
  ["status=70&location=HISTORY&warning=false", { ...none, statuses: [70], location: "HISTORY", warning: false }],
  ["status=41&warning=false&location=INBOX&stuck=true (none)", { statuses: [41], warning: false, location: "INBOX", stuck: true }],
  ["warning=true&stuck=true (none)", { ...none, warning: true, stuck: true }],
  ["status=33&warning=true&location=INBOX&stuck=false (none)", { statuses: [33], warning: true, location: "INBOX", stuck: false }],
];
