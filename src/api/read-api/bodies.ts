// The read API's response bodies as zod schemas: the OpenAPI document is generated from them, and
// the tests parse every real response with them (strictly), so the two cannot drift apart.
import { z } from "zod";

/** The named schemas of the OpenAPI document's components (a registry of its own, not zod's global one). */
export const apiSchemas = z.registry<{ id: string }>();

const instant = (description: string) => z.iso.datetime({ offset: true }).meta({ description });
const nullableInstant = (description: string) => instant(description).nullable();

export const TaskStatusBody = z
  .strictObject({
    taskId: z.int().meta({ description: "The task's id." }),
    externalId: z.string().nullable().meta({ description: "Your id of the task, when you gave one." }),
    displayName: z.string(),
    organizationId: z.int(),
    workspaceId: z.int(),
    status: z.int().meta({ description: "The TaskStatus code, e.g. 41." }),
    statusName: z.string().meta({ description: 'The TaskStatus name, e.g. "ProcessingInProgress" ("status N" for a code this version does not know).' }),
    previousStatus: z.int().nullable(),
    previousStatusName: z.string().nullable(),
    statusChangedAt: instant("Since when the task is in this status."),
    secondsInStatus: z.int().meta({ description: "How long it has been in this status, by the database clock, in whole seconds." }),
    location: z.enum(["INBOX", "HISTORY"]),
    movedToHistoryAt: nullableInstant("When it was moved to history, if it is there."),
    warning: z.boolean(),
    warningReason: z.string().nullable(),
    restartCount: z.int().meta({ description: "How many times it was reprocessed (restartprocessing)." }),
    autoRevertCount: z.int().meta({ description: "How many times the watchdog reverted it automatically." }),
    preProcessingStartedOn: nullableInstant("When its current pre-processing started."),
    createdOn: instant("When the task was created."),
    stuck: z.boolean().meta({ description: "True when it is in the inbox in a status a rule watches for its workspace, for longer than that rule's threshold." }),
    stuckAfterSeconds: z.int().nullable().meta({ description: "The effective threshold of its status in its workspace; null when no enabled rule watches it." }),
    stuckSince: nullableInstant("When it became stuck (statusChangedAt + stuckAfterSeconds), when it is."),
    checkedAt: instant("The database time at which this answer was computed."),
  });

const nextCursor = z.string().nullable().meta({ description: "Pass as `cursor` for the next page; null on the last page. A page may be short (even empty) and still have a nextCursor: follow it until null." });

export const TaskStatusListBody = z
  .strictObject({
    tasks: z.array(TaskStatusBody),
    nextCursor,
  });

export const TaskEventBody = z
  .strictObject({
    id: z
      .string()
      .regex(/^evt_[0-9]+$/)
      .meta({ description: "The event's id, `evt_<number>`: unique, increasing within a task, and the same as the `webhook-id` of its webhook deliveries." }),
    kind: z.string().meta({ description: "AUTO_REVERTED, MOVED_TO_HISTORY, REPROCESSED, FLAGGED, or a kind a later version adds." }),
    fromStatus: z.int(),
    fromStatusName: z.string(),
    toStatus: z.int().nullable(),
    toStatusName: z.string().nullable(),
    reason: z.string(),
    actor: z.string().meta({ description: 'Who did it: "watchdog" for the sweep, the requester for a reprocess.' }),
    sweepId: z.string().nullable(),
    requestId: z.string().nullable(),
    stuckSince: nullableInstant("For an automatic action: since when the task had been in the status it was taken out of."),
    details: z.unknown().meta({ description: "Further facts of the event (JSON), or null." }),
    createdAt: instant("When the event was written."),
  });

export const TaskEventListBody = z
  .strictObject({
    taskId: z.int(),
    events: z.array(TaskEventBody).meta({ description: "Oldest first." }),
    nextCursor,
  });

export const ErrorBody = z.strictObject({ error: z.string().meta({ description: "Why the request was refused; the same text as X-Error." }) });

apiSchemas.add(TaskStatusBody, { id: "TaskStatus" });
apiSchemas.add(TaskStatusListBody, { id: "TaskStatusList" });
apiSchemas.add(TaskEventBody, { id: "TaskEvent" });
apiSchemas.add(TaskEventListBody, { id: "TaskEventList" });
apiSchemas.add(ErrorBody, { id: "Error" });
