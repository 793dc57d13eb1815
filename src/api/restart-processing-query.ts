// The query of PATCH …/restartprocessing: a strict schema of the API's one query parser
// (./query.ts), so it refuses exactly what the read API refuses — an unknown parameter by name
// (`?taskId=7&dryRun=true` must not enqueue the destructive restart the caller meant to preview),
// a parameter given twice, text with control characters — with the same messages.
// To add a parameter, add it to QUERY_SHAPE (the OpenAPI document reads it from there).
import { z } from "zod";
import { booleanParam, externalIdParam, idParam, oneTaskRef, parseQuery, type Parsed } from "./query.js";

export const QUERY_SHAPE = {
  taskId: idParam("The task's id.").optional(),
  externalId: externalIdParam().optional(),
  /** Skips the reprocess guard (audited as forced). */
  force: booleanParam("true: skip the reprocess guard (a task being deleted, or whose machine work is still in flight within its threshold); the reprocess is audited as forced.").optional(),
};

export const restartProcessingQuery = z.strictObject(QUERY_SHAPE).superRefine(oneTaskRef);

export type RestartProcessingQuery = z.output<typeof restartProcessingQuery>;

/** The parsed query, or the reason it is refused (for X-Error). */
export function parseRestartProcessingQuery(query: URLSearchParams): Parsed<RestartProcessingQuery> {
  return parseQuery(restartProcessingQuery, Object.keys(QUERY_SHAPE), query);
}
