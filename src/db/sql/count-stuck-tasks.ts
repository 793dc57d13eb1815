// countStuckTasks — read-only: how many tasks one probe would act on right now, since when the
// oldest has waited, and a few ids. No locks, no writes; used by dry runs, `watchdog stuck`
// and the stuck-tasks gauge. An index range count: proportional to the stuck rows.
import type { Probe } from "../../domain/rules.js";
import type { Db } from "../client.js";
import { stuckWhere } from "./stuck-candidates.js";

export interface StuckCount {
  count: number;
  oldestSince: Date | null;
  sampleTaskIds: number[];
}

export async function countStuckTasks(db: Db, probe: Probe, sampleSize = 5): Promise<StuckCount> {
  const rows = await db.$queryRaw<{ count: number; oldest: Date | null; sample_ids: number[] }[]>`
    SELECT c.count, c.oldest,
           ARRAY(SELECT t.id FROM tasks t WHERE ${stuckWhere(probe)} ORDER BY t.status_changed_at, t.id LIMIT ${sampleSize}::int) AS sample_ids
    FROM (SELECT count(*)::int AS count, min(t.status_changed_at) AS oldest FROM tasks t WHERE ${stuckWhere(probe)}) c`;
  const row = rows[0]!;
  return { count: row.count, oldestSince: row.oldest, sampleTaskIds: row.sample_ids };
}
