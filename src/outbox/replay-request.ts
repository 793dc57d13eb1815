// What an operator may ask a webhook replay for, checked the same way for the CLI
// (`watchdog events replay`), the operator console and the ops endpoint. Pure.
//
// Exactly one selection: some events by id; one organization's events in a time range; or every
// given-up event (of one organization, or of all). Always who and why: a replay is audited.
import { z } from "zod";
import { actorName } from "../sweep/sweep-request.js";
import { actionReason } from "../sweep/pause.js";
import { MAX_BIGINT_ID } from "../platform/ids.js";

/** A replay sends at most this many events; a wider selection is refused (narrow the range, or replay in parts). */
export const MAX_REPLAY_EVENTS = 10_000;

export type ReplaySelection =
  | { kind: "events"; eventIds: string[] }
  | { kind: "range"; organizationId: number; since: Date; until: Date }
  | { kind: "givenUp"; organizationId: number | null };

export interface ReplayRequest {
  selection: ReplaySelection;
  by: string;
  reason: string;
}

const EVENT_ID_ERROR = "must be an event id such as evt_42 (the webhook-id a receiver saw)";

const eventId = z
  .string({ error: "must be an event id such as evt_42" })
  .trim()
  .regex(/^(evt_)?[1-9]\d{0,18}$/, { error: EVENT_ID_ERROR })
  .transform((s) => s.replace(/^evt_/, ""))
  .refine((digits) => BigInt(digits) <= MAX_BIGINT_ID, { error: EVENT_ID_ERROR });

const organizationId = z.union([z.number(), z.string().trim().regex(/^\d+$/, { error: "must be a whole number" }).transform(Number)], { error: "must be an organization id (a whole number)" }).pipe(
  z.number().int().min(1, { error: "must be an organization id from 1 to 2147483647" }).max(2_147_483_647, { error: "must be an organization id from 1 to 2147483647" }),
);

const INSTANT_ERROR = "must be an ISO-8601 time such as 2026-12-04T10:00:00Z (without an offset: UTC)";
/** A date, then optionally a time of day (hh:mm, hh:mm:ss, fractions) and an offset; each field in its range. */
const INSTANT = /^\d{4}-\d{2}-\d{2}(?:T(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,9})?)?(Z|[+-](?:[01]\d|2[0-3]):?[0-5]\d)?)?$/;

// A time without an offset is UTC, as the console's form says and a date alone is in JavaScript: the
// range must not move with the time zone of the machine that reads it (the CLI on an operator's
// laptop, a worker with TZ set). A date that does not exist (2026-02-30) is refused, not rolled over.
const instant = z
  .string({ error: INSTANT_ERROR })
  .trim()
  .refine((s) => INSTANT.test(s) && z.iso.date().safeParse(s.slice(0, 10)).success, { error: INSTANT_ERROR })
  .transform((s) => new Date(s.length > 10 && INSTANT.exec(s)![1] === undefined ? `${s}Z` : s));

const flag = z.union([z.boolean(), z.enum(["true", "on", "1", "false", "off", "0", ""]).transform((s) => ["true", "on", "1"].includes(s))], { error: "must be true or false" });

const replayFields = z.object({
  event: z.union([eventId, z.array(eventId).min(1).max(MAX_REPLAY_EVENTS)]).optional(),
  organization: organizationId.optional(),
  since: instant.optional(),
  until: instant.optional(),
  givenUp: flag.optional(),
  by: actorName(),
  reason: actionReason(),
});

/** The fields, as the CLI's flags and the console's form name them. */
export const REPLAY_FIELDS: readonly string[] = Object.keys(replayFields.shape);

export const replayInputSchema = replayFields
  .superRefine((v, ctx) => {
    const modes = [v.event !== undefined, v.since !== undefined || v.until !== undefined, v.givenUp === true].filter(Boolean).length;
    const issue = (path: string, message: string) => ctx.addIssue({ code: "custom", path: [path], input: undefined, message });
    if (modes === 0) return issue("event", "or organization with since and until, or givenUp, is needed: say which events to replay");
    if (modes > 1) return issue("event", "event, a time range (since/until) and givenUp are three ways to choose; use one");
    if (v.event !== undefined && v.organization !== undefined) return issue("organization", "goes with a time range or givenUp, not with event ids");
    if (v.since !== undefined || v.until !== undefined) {
      if (v.organization === undefined) return issue("organization", "is needed with since/until (whose events)");
      if (v.since === undefined) return issue("since", "is needed with until (the start of the range)");
      if (v.until === undefined) return issue("until", "is needed with since (the end of the range)");
      if (v.until <= v.since) return issue("until", "must be after since");
    }
  })
  .transform((v): ReplayRequest => {
    const selection: ReplaySelection =
      v.event !== undefined
        ? { kind: "events", eventIds: [...new Set(Array.isArray(v.event) ? v.event : [v.event])] }
        : v.givenUp === true
          ? { kind: "givenUp", organizationId: v.organization ?? null }
          : { kind: "range", organizationId: v.organization!, since: v.since!, until: v.until! };
    return { selection, by: v.by, reason: v.reason };
  });

/** How a selection reads in the audit trail and in answers. */
export function describeSelection(s: ReplaySelection): Record<string, unknown> {
  switch (s.kind) {
    case "events":
      return { events: s.eventIds.map((id) => `evt_${id}`) };
    case "range":
      return { organizationId: s.organizationId, since: s.since.toISOString(), until: s.until.toISOString() };
    case "givenUp":
      return { givenUp: true, organizationId: s.organizationId };
  }
}
