// runningBulkOrganizations — the organizations with a running bulk reprocess, for the pacing loop.
// Read-only; reads the partial index bulk_reprocesses_running_idx (running bulks only), so an idle
// deployment's tick costs one small index scan.
import type { Db } from "../../platform/db/client.js";

export async function runningBulkOrganizations(db: Db): Promise<number[]> {
  const rows = await db.$queryRaw<{ organization_id: number }[]>`
    SELECT DISTINCT organization_id FROM bulk_reprocesses WHERE state = 'RUNNING' ORDER BY organization_id`;
  return rows.map((r) => r.organization_id);
}
