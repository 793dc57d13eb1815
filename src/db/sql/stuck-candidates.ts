// The shared WHERE of every sweep statement: inbox tasks of one probe (docs/contract.md, "Rules") whose status is
// older than the threshold by the DATABASE clock. It is a range scan of the partial index
// tasks_inbox_status_changed_at_idx (status, status_changed_at) WHERE location = 'INBOX', so its
// cost follows the stuck rows, not the table. test/integration/query-plan.test.ts holds it to that.
import { Prisma } from "../../generated/prisma/client.js";
import type { Probe } from "../../domain/rules.js";

export function stuckWhere(probe: Probe): Prisma.Sql {
  const only = probe.onlyWorkspaceIds === null ? Prisma.empty : Prisma.sql`AND t.workspace_id = ANY(${[...probe.onlyWorkspaceIds]}::int[])`;
  const except = probe.exceptWorkspaceIds.length === 0 ? Prisma.empty : Prisma.sql`AND t.workspace_id <> ALL(${[...probe.exceptWorkspaceIds]}::int[])`;
  return Prisma.sql`t.location = 'INBOX'
    AND t.status = ${probe.status}::smallint
    AND t.status_changed_at < now() - ${probe.stuckAfterSeconds}::int * interval '1 second'
    ${only} ${except}`;
}
