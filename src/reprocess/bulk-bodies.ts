// The bulk reprocess endpoints' response bodies as zod schemas: the OpenAPI document is generated
// from them and the tests parse every real response with them, strictly.
import { z } from "zod";
import { apiSchemas } from "../api/read-api/bodies.js";
import type { BulkPreview } from "./bulk-preview.js";
import type { Bulk } from "./sql/bulk-row.js";

const count = (description: string) => z.int().min(0).meta({ description });

export const BulkPreviewBody = z
  .strictObject({
    dryRun: z.literal(true),
    force: z.boolean(),
    matched: count("Tasks of your organization the selection names."),
    notFound: count("Ids of the list that name no task of your organization (0 for a filter)."),
    wouldApply: count("Tasks the bulk would reprocess now (with force: every matched task)."),
    wouldRefuse: z.strictObject({
      total: count("Tasks the reprocess guard would refuse now."),
      byReason: z.strictObject({
        deleting: count("Deleting (19) or Deleted (20): a restart would bring back a task being deleted."),
        in_flight: count("In a transient status not yet past its rule's threshold: machine work is in flight, a restart would run it twice."),
        no_rule: count("In a transient status no rule covers: counted as machine work in flight."),
      }),
    }),
    forcedPastGuard: count("With force: tasks reprocessed although the guard would refuse them (audited as forced)."),
    discardsEdits: count("Tasks to be reprocessed that carry people's edits: reprocessing discards them (kept in the audit trail's details only)."),
    resetsAssignments: count("Tasks to be reprocessed whose assignments are in progress, completed or rejected: they go back to PENDING."),
  })
  .meta({ description: "What the bulk would do if it were started now. Nothing was changed. The guard is decided again when each task is reprocessed." });

export const BulkProgressBody = z
  .strictObject({
    bulkId: z.string().meta({ description: "The bulk's id: ask for its progress, or cancel it, with it." }),
    state: z.enum(["running", "done", "cancelled"]),
    force: z.boolean(),
    selection: z.record(z.string(), z.unknown()).meta({ description: "What was asked: the filters, or how many ids." }),
    requestedBy: z.string().meta({ description: "Who asked (your token, by its fingerprint); the actor of every REPROCESSED event of the bulk." }),
    total: count("Tasks in the bulk (its selection, fixed when it was accepted)."),
    applied: count("Reprocessed."),
    refused: count("Refused by the reprocess guard when their turn came."),
    notFound: count("No such task in your organization when their turn came."),
    pending: count("Not processed yet (after a cancel: never will be)."),
    createdAt: z.iso.datetime({ offset: true }).meta({ description: "When the bulk was accepted." }),
    finishedAt: z.iso.datetime({ offset: true }).nullable().meta({ description: "When it was done or cancelled." }),
    cancelledBy: z.string().nullable(),
    preview: BulkPreviewBody.omit({ dryRun: true }).optional().meta({ description: "On the 202 that accepted the bulk: the preview as it stood then." }),
  })
  .meta({ description: "A bulk reprocess and its progress." });

export const BulkItemsBody = z
  .strictObject({
    items: z.array(
      z.strictObject({
        position: z.int().meta({ description: "Its place in the bulk's order, from 1." }),
        taskId: z.int().nullable().meta({ description: "The task's id (null when it was asked for by external id)." }),
        externalId: z.string().nullable().meta({ description: "The external id it was asked for by (null when asked for by task id or by a filter)." }),
        outcome: z.enum(["applied", "refused", "not_found", "pending"]),
        reason: z.string().nullable().meta({ description: "Why it was refused (the reprocess guard's words) or not found." }),
        processedAt: z.iso.datetime({ offset: true }).nullable().meta({ description: "When it was processed: the instant of its REPROCESSED event." }),
      }),
    ),
    nextCursor: z.string().nullable().meta({ description: "Pass as `cursor` for the next page; null on the last page." }),
  })
  .meta({ description: "A bulk's tasks and what became of each, in the order they are applied." });

apiSchemas.add(BulkItemsBody, { id: "BulkReprocessItems" });
apiSchemas.add(BulkPreviewBody, { id: "BulkReprocessPreview" });
apiSchemas.add(BulkProgressBody, { id: "BulkReprocess" });

export function presentBulk(bulk: Bulk, preview?: BulkPreview & { force: boolean }): z.input<typeof BulkProgressBody> {
  return {
    bulkId: bulk.id,
    state: bulk.state,
    force: bulk.force,
    selection: bulk.selection,
    requestedBy: bulk.requestedBy,
    total: bulk.total,
    applied: bulk.applied,
    refused: bulk.refused,
    notFound: bulk.notFound,
    pending: bulk.pending,
    createdAt: bulk.createdAt.toISOString(),
    finishedAt: bulk.finishedAt ? bulk.finishedAt.toISOString() : null,
    cancelledBy: bulk.cancelledBy,
    ...(preview ? { preview } : {}),
  };
}
