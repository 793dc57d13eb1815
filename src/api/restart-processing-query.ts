// The query of PATCH …/restartprocessing, as one zod schema. Unknown parameters are refused by
// name (`?taskId=7&dryRun=true` must not enqueue the destructive restart the caller meant to
// preview), each parameter is given at most once, and text that PostgreSQL cannot store (NUL) or
// that no real id contains (control characters) is a 400 naming the parameter, not a 500.
// To add a parameter, add it to QUERY_SHAPE (and to the OpenAPI document).
import { z } from "zod";
import { MAX_EXTERNAL_ID_LENGTH, MAX_ID as MAX_TASK_ID } from "../reprocess/reprocess-request.js";
import { formatIssues } from "../platform/zod-issues.js";

/** C0 controls (NUL included) and DEL. */
const CONTROL = /[\u0000-\u001f\u007f]/;

/** A parameter given twice arrives as an array (queryObject) and is refused before `schema` runs. */
const once = <T extends z.ZodType<unknown, string>>(schema: T) => z.unknown().refine((v) => typeof v === "string", { error: "must be given once", abort: true }).pipe(schema);

export const QUERY_SHAPE = {
  taskId: once(
    z.string().refine((v) => /^[1-9][0-9]{0,9}$/.test(v) && Number(v) <= MAX_TASK_ID, { error: `must be a whole number from 1 to ${MAX_TASK_ID}` }),
  )
    .transform(Number)
    .optional(),
  externalId: once(
    z
      .string()
      .refine((v) => v.trim() !== "" && v.length <= MAX_EXTERNAL_ID_LENGTH, { error: `must be 1 to ${MAX_EXTERNAL_ID_LENGTH} characters`, abort: true })
      .refine((v) => !CONTROL.test(v), { error: "must not contain NUL or other control characters" }),
  ).optional(),
  /** Skips the reprocess guard (audited as forced). */
  force: once(z.enum(["true", "false"], { error: "must be true or false" }))
    .transform((v) => v === "true")
    .optional(),
};

export const restartProcessingQuery = z
  .strictObject(QUERY_SHAPE)
  // ", got …" in the message: the formatter then does not append "got an object".
  .refine((q) => q.taskId !== undefined || q.externalId !== undefined, { error: "must give taskId or externalId, got neither" })
  .refine((q) => q.taskId === undefined || q.externalId === undefined, { error: "must give exactly one of taskId or externalId, got both" });

export type RestartProcessingQuery = z.infer<typeof restartProcessingQuery>;

/** A query string's parameters, a repeated one as an array (so the schema can refuse it). */
export function queryObject(query: URLSearchParams): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [key, value] of query) {
    const seen = out[key];
    out[key] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return out;
}

/** The parsed query, or the reason it is refused (for X-Error). */
export function parseRestartProcessingQuery(query: URLSearchParams): { ok: true; value: RestartProcessingQuery } | { ok: false; error: string } {
  const parsed = restartProcessingQuery.safeParse(queryObject(query), { reportInput: true });
  if (parsed.success) return { ok: true, value: parsed.data };
  return { ok: false, error: formatIssues(parsed.error, { schema: restartProcessingQuery, label: "the query" }).join("; ") };
}
