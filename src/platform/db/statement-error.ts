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

/** SQLSTATE classes of a database that is away or refusing work: connection exception, insufficient resources, operator intervention (statement timeout, shutdown), system error. */
const UNAVAILABLE_CLASSES = new Set(["08", "53", "57", "58"]);
/** The driver adapter's kinds for the same. */
const UNAVAILABLE_KINDS = new Set(["ConnectionClosed", "DatabaseNotReachable", "SocketTimeout", "TooManyConnections", "TlsConnectionError"]);
/** Prisma's codes for the same: can't reach, timed out, server closed the connection, pool timeout. */
const UNAVAILABLE_PRISMA_CODES = new Set(["P1001", "P1002", "P1008", "P1017", "P2024"]);
/**
 * node-postgres' own errors carry no code: a connect or read timeout (a pool's "timeout exceeded …",
 * a lone Client's "timeout expired"), a connection that ended.
 */
const UNAVAILABLE_MESSAGES = /Query read timeout|Connection terminated|timeout exceeded when trying to connect|^timeout expired$|connection timeout|ECONNREFUSED|ECONNRESET|Can't reach database/i;

/**
 * Whether an error says PostgreSQL is unreachable, frozen (a timeout) or refusing work — something
 * to try again later (HTTP 503 with Retry-After) — rather than a fault of the request or the code.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (isStatementError(error)) return false;
  const e = error as { code?: unknown; message?: unknown; meta?: { driverAdapterError?: { cause?: { kind?: unknown } } } } | null;
  const kind = e?.meta?.driverAdapterError?.cause?.kind;
  if (typeof kind === "string" && kind !== "postgres") return UNAVAILABLE_KINDS.has(kind);
  // Prisma's own codes (P1001 …) look like SQLSTATEs: judge them first.
  if (typeof e?.code === "string" && /^P\d{4}$/.test(e.code)) return UNAVAILABLE_PRISMA_CODES.has(e.code);
  const state = sqlState(error);
  if (state !== undefined) return UNAVAILABLE_CLASSES.has(state.slice(0, 2));
  return typeof e?.message === "string" && UNAVAILABLE_MESSAGES.test(e.message);
}
