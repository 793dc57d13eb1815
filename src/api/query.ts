// The customer API's one query parser, for the read API and PATCH …/restartprocessing alike: each
// endpoint declares a strict zod schema built from the parameters below, and parseQuery applies
// the same rules everywhere. An unknown parameter is refused by name (a typo must not silently
// widen a filter, nor `?taskId=7&dryRun=true` run the destructive restart it meant to preview), a
// parameter given twice is refused unless it is a list, and text with control characters (C0, DEL
// and C1; a NUL cannot even be stored by PostgreSQL) is refused. Every message names the
// parameter, what was received and what is allowed.
import { z } from "zod";
import { MAX_EXTERNAL_ID_LENGTH } from "../reprocess/reprocess-request.js";
import { MAX_ID } from "../platform/ids.js";
import { formatIssues, joinIssues } from "../platform/zod-issues.js";
import { CONTROL_ERROR, NO_CONTROL_PATTERN } from "../platform/text-safety.js";

export const LABEL = "the query";

/** Text without control characters (C0, DEL, C1). */
export const safeText = () => z.string().regex(NO_CONTROL_PATTERN, { error: CONTROL_ERROR });

export const idParam = (what: string) =>
  z
    .string()
    .regex(/^[1-9][0-9]{0,9}$/, { error: `must be a whole number from 1 to ${MAX_ID}` })
    .refine((s) => Number(s) <= MAX_ID, { error: `must be a whole number from 1 to ${MAX_ID}` })
    .transform(Number)
    .meta({ description: what });

export const externalIdParam = () =>
  safeText()
    .min(1, { error: `must be 1 to ${MAX_EXTERNAL_ID_LENGTH} characters` })
    .max(MAX_EXTERNAL_ID_LENGTH, { error: `must be 1 to ${MAX_EXTERNAL_ID_LENGTH} characters` })
    .refine((s) => s.trim() !== "", { error: "must not be blank" })
    .meta({ description: "The task's external id (unique within your organization)." });

export const booleanParam = (description: string) =>
  z
    .enum(["true", "false"], { error: 'must be one of "true", "false"' })
    .transform((s) => s === "true")
    .meta({ description });

export const limitParam = (max: number, fallback: number) =>
  z
    .string()
    .regex(/^[1-9][0-9]*$/, { error: `must be a whole number from 1 to ${max}` })
    .refine((s) => s.length <= 4 && Number(s) <= max, { error: `must be a whole number from 1 to ${max}` })
    .transform(Number)
    .optional()
    .transform((n) => n ?? fallback)
    .meta({ description: `Page size: a whole number from 1 to ${max}; ${fallback} when left out.` });

/** Exactly one of taskId / externalId, as restartprocessing takes them. */
export function oneTaskRef<T extends { taskId?: number | undefined; externalId?: string | undefined }>(query: T, ctx: z.RefinementCtx): void {
  if ((query.taskId === undefined) === (query.externalId === undefined)) {
    ctx.addIssue({ code: "custom", path: [], message: "must give exactly one of taskId or externalId", input: undefined });
  }
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/**
 * The query as an object for `schema`: each parameter once (a `lists` parameter may repeat and
 * may hold comma-separated values), then the schema's own checks.
 */
export function parseQuery<S extends z.ZodType>(schema: S, shape: readonly string[], query: URLSearchParams, lists: readonly string[] = []): Parsed<z.output<S>> {
  // No prototype: `__proto__` is then a key like any other, which the strict schema refuses by name
  // (on a plain object, assigning it would set the prototype and the parameter would vanish unchecked).
  const record: Record<string, string | string[]> = Object.create(null);
  for (const key of new Set(query.keys())) {
    const values = query.getAll(key);
    if (lists.includes(key)) {
      record[key] = values.flatMap((v) => v.split(","));
    } else if (values.length > 1 && shape.includes(key)) {
      return { ok: false, error: `${key} is given ${values.length} times; give it once` };
    } else {
      record[key] = values[0]!;
    }
  }
  const parsed = schema.safeParse(record, { reportInput: true });
  if (parsed.success) return { ok: true, value: parsed.data };
  const messages = formatIssues(parsed.error, { schema, label: LABEL }).map((m) => m.replace(/^unknown field/, "unknown query parameter"));
  return { ok: false, error: joinIssues(messages) };
}
