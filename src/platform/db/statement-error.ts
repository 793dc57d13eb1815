// Which database errors belong to one statement (its data or its text) rather than to the
// database or the connection. A sweep isolates the first kind per status — one rule's bad
// statement must not stop the others — and fails whole on the second: when PostgreSQL is
// frozen, gone or cancelling on timeout, trying the next status would only wait again.

/** SQLSTATE classes caused by a statement itself: cardinality, data exception, integrity, syntax or access rule, WITH CHECK. */
const STATEMENT_CLASSES = new Set(["21", "22", "23", "42", "44"]);

/** The SQLSTATE PostgreSQL answered with, when the error carries one (Prisma's driver adapter or pg). */
export function sqlState(error: unknown): string | undefined {
  const e = error as { code?: unknown; meta?: { driverAdapterError?: { cause?: { kind?: unknown; code?: unknown } } } } | null;
  const cause = e?.meta?.driverAdapterError?.cause;
  if (cause?.kind === "postgres" && typeof cause.code === "string") return cause.code;
  return typeof e?.code === "string" && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : undefined;
}

export function isStatementError(error: unknown): boolean {
  const state = sqlState(error);
  return state !== undefined && STATEMENT_CLASSES.has(state.slice(0, 2));
}
