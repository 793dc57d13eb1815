// Every setting of the worker in one place: its environment variable, what it does, its default
// and how it is parsed. The README's configuration table is checked against this list by a test.
import { parsePositiveDuration } from "../domain/duration.js";
import { MIN_TOKEN_LENGTH, parseApiTokens, type ApiToken } from "./api-tokens.js";

export interface Setting<T> {
  readonly env: string;
  readonly doc: string;
  /** The default as an operator would write it; undefined = not set. */
  readonly default: string | undefined;
  /** A secret is never logged nor echoed back in an error. */
  readonly secret?: boolean;
  /** The value, or an error saying what is allowed. */
  readonly parse: (raw: string) => { value: T } | { error: string };
}

const ok = <T>(value: T) => ({ value });

const integer = (min: number, max: number) => (raw: string) => {
  const n = Number(raw.trim());
  return Number.isSafeInteger(n) && n >= min && n <= max && /^\s*\d+\s*$/.test(raw)
    ? ok(n)
    : { error: `must be a whole number from ${min} to ${max}` };
};

const duration = (raw: string) => {
  const d = parsePositiveDuration(raw);
  return "error" in d ? { error: d.error } : ok(d.seconds * 1000);
};

const url = (protocols: string[]) => (raw: string) => {
  try {
    const u = new URL(raw);
    if (!protocols.includes(u.protocol)) return { error: `must start with ${protocols.map((p) => `${p}//`).join(" or ")}` };
    return ok(raw);
  } catch {
    return { error: `must be a URL such as ${protocols[0]}//host:port/...` };
  }
};

const oneOf = <T extends string>(values: readonly T[]) => (raw: string) =>
  (values as readonly string[]).includes(raw) ? ok(raw as T) : { error: `must be one of ${values.join(", ")}` };

const boolean = (raw: string) => {
  const v = raw.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(v)) return ok(true);
  if (["0", "false", "no", "off"].includes(v)) return ok(false);
  return { error: "must be true or false" };
};

const text = (raw: string) => (raw.trim() === "" ? { error: "must not be empty" } : ok(raw.trim()));

const MIN_BOARD_PASSWORD_LENGTH = 12;

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

export const SETTINGS = {
  databaseUrl: {
    env: "DATABASE_URL",
    doc: "PostgreSQL connection string. `npm run db:migrate` creates the database when it is missing.",
    default: "postgresql://postgres@127.0.0.1:5432/task_watchdog",
    secret: true,
    parse: url(["postgresql:", "postgres:"]),
  } satisfies Setting<string>,
  redisUrl: {
    env: "REDIS_URL",
    doc: "Redis connection string; a DB index in the path (`/2`) is honoured.",
    default: "redis://127.0.0.1:6379/0",
    secret: true,
    parse: url(["redis:", "rediss:"]),
  } satisfies Setting<string>,
  queuePrefix: {
    env: "QUEUE_PREFIX",
    doc: "Prefix of every BullMQ key. Use `{watchdog}` (with braces) on a Redis Cluster.",
    default: "bull",
    parse: text,
  } satisfies Setting<string>,
  logLevel: {
    env: "LOG_LEVEL",
    doc: `pino log level: ${LOG_LEVELS.join(", ")}.`,
    default: "info",
    parse: oneOf(LOG_LEVELS),
  } satisfies Setting<(typeof LOG_LEVELS)[number]>,
  logPretty: {
    env: "LOG_PRETTY",
    doc: "Human-readable logs (needs the dev dependency pino-pretty). JSON otherwise.",
    default: "false",
    parse: boolean,
  } satisfies Setting<boolean>,
  host: {
    env: "HOST",
    doc: "Address the HTTP server binds. Loopback by default; `0.0.0.0` exposes it.",
    default: "127.0.0.1",
    parse: text,
  } satisfies Setting<string>,
  port: {
    env: "PORT",
    doc: "HTTP port for health, metrics, Bull Board and the API (0 picks a free port).",
    default: "3000",
    parse: integer(0, 65535),
  } satisfies Setting<number>,
  sweepIntervalMs: {
    env: "SWEEP_INTERVAL",
    doc: "How often the scheduled sweep runs, across all replicas (ISO-8601 duration).",
    default: "PT1M",
    parse: duration,
  } satisfies Setting<number>,
  sweepBatchSize: {
    env: "SWEEP_BATCH_SIZE",
    doc: "Tasks changed per transaction; a backlog is drained batch after batch.",
    default: "1000",
    parse: integer(1, 50_000),
  } satisfies Setting<number>,
  escalateAfterReverts: {
    env: "ESCALATE_AFTER_REVERTS",
    doc: "The automatic revert that brings a task's count to this many (and every later one) says \"stuck again for the Nth time …; needs support\" and is counted in watchdog_tasks_escalated_total.",
    default: "3",
    parse: integer(1, 1000),
  } satisfies Setting<number>,
  sweepScheduleEnabled: {
    env: "SWEEP_SCHEDULE_ENABLED",
    doc: "Register the repeating sweep (job scheduler `task-watchdog-sweep`). `false` removes it; manual sweeps still run.",
    default: "true",
    parse: boolean,
  } satisfies Setting<boolean>,
  reprocessConcurrency: {
    env: "REPROCESS_CONCURRENCY",
    doc: "Reprocess requests (queue `task-reprocess`) one replica applies at once; each holds one database connection while it runs.",
    default: "5",
    parse: integer(1, 100),
  } satisfies Setting<number>,
  rulesFile: {
    env: "RULES_FILE",
    doc: "Path of a JSON file of rule overrides (see Rules).",
    default: undefined,
    parse: text,
  } satisfies Setting<string>,
  rulesJson: {
    env: "RULES_JSON",
    doc: "Rule overrides inline, same format as the file; applied after it.",
    default: undefined,
    parse: text,
  } satisfies Setting<string>,
  shutdownTimeoutMs: {
    env: "SHUTDOWN_TIMEOUT",
    doc: "How long a graceful shutdown may take before it is forced (ISO-8601 duration).",
    default: "PT30S",
    parse: duration,
  } satisfies Setting<number>,
  sweepOverdueAfterMs: {
    env: "SWEEP_OVERDUE_AFTER",
    doc: "No sweep completed (on any replica) for this long turns `/health/sweeps` red and `watchdog_sweep_overdue` to 1 (ISO-8601 duration). Default: 3 × SWEEP_INTERVAL.",
    default: undefined,
    parse: duration,
  } satisfies Setting<number>,
  bullBoardUser: {
    env: "BULL_BOARD_USER",
    doc: "Bull Board (`/admin/queues`) Basic-auth user. Required, with BULL_BOARD_PASSWORD, when HOST is not loopback.",
    default: undefined,
    parse: text,
  } satisfies Setting<string>,
  bullBoardPassword: {
    env: "BULL_BOARD_PASSWORD",
    doc: `Bull Board Basic-auth password (at least ${MIN_BOARD_PASSWORD_LENGTH} characters).`,
    default: undefined,
    secret: true,
    parse: (raw: string) => (raw.length >= MIN_BOARD_PASSWORD_LENGTH ? ok(raw) : { error: `must be at least ${MIN_BOARD_PASSWORD_LENGTH} characters long` }),
  } satisfies Setting<string>,
  bullBoardReadOnly: {
    env: "BULL_BOARD_READ_ONLY",
    doc: "Bull Board shows queues and jobs but offers no retry, clean, pause or remove.",
    default: "false",
    parse: boolean,
  } satisfies Setting<boolean>,
  apiTokens: {
    env: "API_TOKENS",
    doc: `Bearer tokens of the HTTP API, each bound to one organization: \`<token>:<organizationId>,…\` (tokens of at least ${MIN_TOKEN_LENGTH} characters). Unset: the API answers 401.`,
    default: undefined,
    secret: true,
    parse: parseApiTokens,
  } satisfies Setting<ApiToken[]>,
  buildCommit: {
    env: "WATCHDOG_COMMIT",
    doc: "The commit this build was made from, shown as the `commit` label of `watchdog_build_info` (`unknown` when unset). The image sets it from its `WATCHDOG_COMMIT` build argument.",
    default: undefined,
    parse: text,
  } satisfies Setting<string>,
} as const;

type Settings = typeof SETTINGS;
export type Config = {
  [K in keyof Settings]: Settings[K] extends Setting<infer T> ? (Settings[K]["default"] extends string ? T : T | undefined) : never;
};
