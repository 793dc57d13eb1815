// What a replay job may contain, checked before anything touches the database. Pure: the worker
// turns an error into BullMQ's UnrecoverableError (never retried).
//
// requestReplay queues exactly {"replayId": "<operator_actions.id>"}, the id as a string (a bigint
// can pass 2^53). Strict, as the sweep and reprocess jobs are: an unknown field is refused by name,
// not ignored; an id past bigint is refused here, where the database would have refused the cast
// and the worker taken that for a fault to retry with backoff. Messages name the field and show
// what was received cut short (describeValue), however large the job's data.
import { z } from "zod";
import { MAX_BIGINT_ID } from "../platform/ids.js";
import { formatIssues, joinIssues } from "../platform/zod-issues.js";

/** What a producer should send, for messages. */
export const REPLAY_JOB_EXAMPLE = '{"replayId": "42"}';

const REPLAY_ID_ERROR = `must be a replay's id, a whole number from 1 to ${MAX_BIGINT_ID} written as a string such as "42"`;

export const replayJobDataSchema = z.strictObject(
  {
    replayId: z.string({ error: REPLAY_ID_ERROR }).refine((s) => /^[1-9]\d{0,18}$/.test(s) && BigInt(s) <= MAX_BIGINT_ID, { error: REPLAY_ID_ERROR }),
  },
  { error: (issue) => (issue.code === "invalid_type" ? `must be an object such as ${REPLAY_JOB_EXAMPLE}` : undefined) },
);

export type ParsedReplayJob = { ok: true; replayId: string } | { ok: false; error: string };

export function parseReplayJobData(data: unknown): ParsedReplayJob {
  const parsed = replayJobDataSchema.safeParse(data, { reportInput: true });
  if (!parsed.success) return { ok: false, error: `BadRequest: ${joinIssues(formatIssues(parsed.error, { schema: replayJobDataSchema, label: "job data" }))}` };
  return { ok: true, replayId: parsed.data.replayId };
}
