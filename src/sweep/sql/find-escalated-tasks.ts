// findEscalatedTasks — read-only: inbox tasks the watchdog has reverted at least `minReverts`
// times that still carry the warning (nobody has cleared or reprocessed them since): the ones that
// "need support". For `watchdog stuck` and the status report.
//
// In:    minReverts (ESCALATE_AFTER_REVERTS), a row limit.
// Locks: none. An index range of tasks_inbox_escalated_idx (warned inbox tasks, most reverted
//        first): reads the tasks with at least minReverts reverts (all of them, for the total), not
//        the platform's inbox or its warned tasks. Run by people (each console page), not every sweep.
// Out:   the tasks, most reverted first, and how many there are in all.
import * as Prisma from "../../platform/db/sql.js";
import type { Db } from "../../platform/db/client.js";

export interface EscalatedTask {
  id: number;
  status: number;
  workspaceId: number;
  autoRevertCount: number;
  warningReason: string | null;
  statusChangedAt: Date;
}

export function findEscalatedTasksSql(minReverts: number, limit: number): Prisma.Sql {
  return Prisma.sql`
    SELECT t.id, t.status::int AS status, t.workspace_id, t.auto_revert_count, t.warning_reason, t.status_changed_at, count(*) OVER ()::int AS total
    FROM tasks t
    WHERE t.location = 'INBOX' AND t.warning AND t.auto_revert_count >= ${minReverts}::int
    ORDER BY t.auto_revert_count DESC, t.id
    LIMIT ${limit}::int`;
}

export async function findEscalatedTasks(db: Db, minReverts: number, limit = 20): Promise<{ total: number; tasks: EscalatedTask[] }> {
  const rows = await db.$queryRaw<{ id: number; status: number; workspace_id: number; auto_revert_count: number; warning_reason: string | null; status_changed_at: Date; total: number }[]>(
    findEscalatedTasksSql(minReverts, limit),
  );
  return {
    total: rows[0]?.total ?? 0,
    tasks: rows.map((r) => ({ id: r.id, status: r.status, workspaceId: r.workspace_id, autoRevertCount: r.auto_revert_count, warningReason: r.warning_reason, statusChangedAt: r.status_changed_at })),
  };
}
