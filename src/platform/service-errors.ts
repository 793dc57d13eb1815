// One line for an operator when a service is missing, refuses us or is not prepared: what failed,
// the variable to look at and the fix. Never the connection string (it may carry a password), and
// never the library's error object (ioredis' carries the AUTH command and its arguments).
import { DeadlineError } from "./deadline.js";

/** A service problem worded for an operator; the CLI prints the message and exits 1. */
export class ServiceError extends Error {
  override name = "ServiceError";
}

const codeOf = (error: unknown): string | undefined => {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
};

/** `host:port` of a connection string, for messages (no user, no password). */
export function endpointOf(url: string, defaultPort: number): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || defaultPort}`;
  } catch {
    return "(unparseable URL)";
  }
}

const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: "refused the connection (nothing listens there)",
  ENOTFOUND: "has a host name that does not resolve",
  EAI_AGAIN: "has a host name that does not resolve (yet)",
  EHOSTUNREACH: "is unreachable",
  ENETUNREACH: "is unreachable",
  ETIMEDOUT: "did not answer in time",
  ECONNRESET: "closed the connection",
};

/** PostgreSQL's own reasons (SQLSTATE) and the network's, as one line naming DATABASE_URL. */
export function describePostgresError(error: unknown, databaseUrl: string): string {
  const where = `PostgreSQL at ${endpointOf(databaseUrl, 5432)} (DATABASE_URL)`;
  const code = codeOf(error);
  const database = (() => {
    try {
      return decodeURIComponent(new URL(databaseUrl).pathname.replace(/^\//, ""));
    } catch {
      return "?";
    }
  })();
  if (code === "3D000") return `${where} has no database ${JSON.stringify(database)}: run \`npm run db:migrate\` (it creates the database) or fix the name in DATABASE_URL`;
  if (code === "28P01" || code === "28000") return `${where} refused the user or password of DATABASE_URL (${code}): fix them in DATABASE_URL`;
  if (code === "42P01") return `${where}: the database ${JSON.stringify(database)} is not migrated (no tables): run \`npm run db:migrate\``;
  if (code === "57P03") return `${where} is starting up or shutting down: try again in a moment`;
  if (code && NETWORK_CODES[code]) return `${where} ${NETWORK_CODES[code]} (${code}): start PostgreSQL or point DATABASE_URL at it`;
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof DeadlineError || /timeout|timed out/i.test(message)) return `${where} did not answer in time: check that it runs and DATABASE_URL points at it`;
  // A server that is not PostgreSQL (or a proxy with nothing behind it) accepts and hangs up.
  if (/Connection terminated unexpectedly/i.test(message)) return `${where} closed the connection before answering: check that DATABASE_URL points at PostgreSQL (host and port)`;
  return `${where} failed: ${message.split("\n")[0]}${code ? ` (${code})` : ""}`;
}

/** ioredis' reasons, as one line naming REDIS_URL. */
export function describeRedisError(error: unknown, redisUrl: string): string {
  const where = `Redis at ${endpointOf(redisUrl, 6379)} (REDIS_URL)`;
  const code = codeOf(error);
  const message = error instanceof Error ? error.message : String(error);
  if (/WRONGPASS|NOAUTH|invalid password|invalid username-password/i.test(message)) return `${where} refused the credentials: fix the user and password in REDIS_URL`;
  if (code && NETWORK_CODES[code]) return `${where} ${NETWORK_CODES[code]} (${code}): start Redis or point REDIS_URL at it`;
  if (/^READONLY\b/.test(message)) return `${where} is a read-only replica: point REDIS_URL at the primary`;
  if (error instanceof DeadlineError || /timed? ?out/i.test(message)) return `${where} did not answer in time: check that it runs and REDIS_URL points at it`;
  return `${where} failed: ${message.split("\n")[0]}`;
}
