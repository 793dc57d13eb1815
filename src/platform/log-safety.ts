// Library errors carry more than their message: ioredis puts the failed command on the error
// (`command.args` of `HELLO 3 AUTH default <password>`), pg and ioredis keep connection options and
// earlier errors. The error serializer keeps what helps an operator (type, message, code, stack,
// cause) and drops those fields wherever they are nested; and a connection that keeps failing
// logs its first error, then one summary per interval instead of a line per reconnect.
import { pino, type Logger } from "pino";

/** Fields of library errors that may hold credentials or the commands that carried them. */
const UNSAFE_ERROR_FIELDS = new Set(["command", "args", "previousErrors", "options", "connectionOptions", "config", "client", "connection", "lastNodeError"]);

function strip(value: unknown, depth: number): unknown {
  if (depth > 5 || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((v) => strip(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    if (UNSAFE_ERROR_FIELDS.has(key)) {
      // The command's name is useful and harmless; its arguments are not.
      if (key === "command" && inner && typeof inner === "object" && typeof (inner as { name?: unknown }).name === "string") out.command = { name: (inner as { name: string }).name };
      continue;
    }
    out[key] = strip(inner, depth + 1);
  }
  return out;
}

/** pino's error serializer, without the fields above (also in `cause` and in AggregateError's `errors`). */
export function safeErrorSerializer(error: unknown): unknown {
  if (!(error instanceof Error)) return strip(error, 0);
  return strip(pino.stdSerializers.err(error), 0);
}

/**
 * A listener for a connection's repeated "error" events: the first is logged at warn, the next
 * ones are counted and summarised once per `intervalMs` (with the last error), so one outage is a
 * few lines, not one per reconnect attempt.
 */
export function throttledErrorLog(logger: Logger, msg: string, context: Record<string, unknown> = {}, intervalMs = 10_000): (error: unknown) => void {
  let suppressed = 0;
  let last: unknown;
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    if (suppressed === 0) return; // quiet for a whole interval: the next error is logged at once
    logger.warn({ ...context, err: last, repeated: suppressed, intervalMs }, `${msg} (repeated)`);
    suppressed = 0;
    timer = setTimeout(flush, intervalMs);
    timer.unref();
  };
  return (error: unknown) => {
    if (timer === undefined) {
      logger.warn({ ...context, err: error }, msg);
      timer = setTimeout(flush, intervalMs);
      timer.unref();
      return;
    }
    suppressed += 1;
    last = error;
  };
}
