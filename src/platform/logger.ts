import { pino, type Logger } from "pino";
import { safeErrorSerializer } from "./log-safety.js";
import { traceLogFields } from "./tracing/log-context.js";

/** Paths whose values never reach a log line, wherever they appear. */
export const REDACT_PATHS = [
  "password",
  "*.password",
  "token",
  "*.token",
  "authorization",
  "*.authorization",
  "req.headers.authorization",
  "req.headers.cookie",
  "headers.authorization",
  "headers.cookie",
  "databaseUrl",
  "*.databaseUrl",
  "redisUrl",
  "*.redisUrl",
  "apiTokens",
  "*.apiTokens",
  "bullBoardPassword",
  "*.bullBoardPassword",
  // Webhook signing secrets (whsec_…) and the setting that carries them.
  "secret",
  "*.secret",
  "webhooksJson",
  "*.webhooksJson",
  "webhook-signature",
  "*.webhook-signature",
];

/**
 * Credentials inside text that no path can name: `scheme://user:password@host` in an error
 * message or stack, and `Bearer …` / `Basic …` values quoted in a message.
 */
// Greedy to the last "@" before a "/", a space or the end of a JSON string: a password may itself
// contain "@" or a quote (escaped as \" inside a JSON line, which the match steps over).
// The match begins at "://" and looks back for the scheme: begun at the scheme, every letter of a
// long run of letters was tried as one, each scanning the rest of the run (quadratic: an hour of
// CPU for a 2 MB line). The scheme stays in the line as it was, so what is redacted is unchanged.
const URL_CREDENTIALS = /(:\/\/(?<=[a-z][a-z0-9+.-]*:\/\/)[^\s:/@"']*:)(?:[^\s/"\\]|\\.)*@/gi;
// Both linear as they stand: each begins at a fixed word, and nothing after it can match in two ways.
const AUTH_SCHEMES = /\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/]{16,}=*/g;

const WEBHOOK_SECRETS = /whsec_[A-Za-z0-9+/=]+/g;

export function scrubSecrets(line: string): string {
  return line.replace(URL_CREDENTIALS, "$1[redacted]@").replace(AUTH_SCHEMES, "$1 [redacted]").replace(WEBHOOK_SECRETS, "whsec_[redacted]");
}

/** Every finished line passes through scrubSecrets on its way to `inner`. */
function scrubbing(inner: pino.DestinationStream): pino.DestinationStream {
  return { write: (line: string) => inner.write(scrubSecrets(line)) };
}

export function createLogger(options: { level: string; pretty?: boolean; destination?: pino.DestinationStream }): Logger {
  // Errors go through safeErrorSerializer: library errors carry commands and options with credentials.
  // mixin: inside a traced request or job, each line carries its trace_id and span_id (none when tracing is off).
  const base = {
    level: options.level,
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    base: { service: "task-watchdog" },
    serializers: { err: safeErrorSerializer, error: safeErrorSerializer },
    mixin: traceLogFields,
  };
  if (options.destination) return pino(base, scrubbing(options.destination));
  if (options.pretty) return pino(base, scrubbing(pino.transport({ target: "pino-pretty", options: { colorize: true } })));
  return pino(base, scrubbing(pino.destination({ dest: 1, sync: true })));
}
