// Every setting of the worker in one place: its environment variable, what it does, its default
// and its zod schema (a string in, the typed value out). docs/configuration.md is checked against
// this list by test/unit/readme.test.ts. Each schema's messages say what is allowed; loadConfig
// adds the variable's name and what was received (never for a secret).
import { isIP } from "node:net";
import { Duration } from "luxon";
import { z } from "zod";
import { durationSeconds, type DurationBound } from "../../rules/duration.js";
import { MIN_TOKEN_LENGTH, parseApiTokens, type ApiToken } from "./api-tokens.js";
import { clusterNodes } from "./cluster-nodes.js";
import { parseSecretKeys } from "../../outbox/webhook-secret-box.js";

export interface Setting<T = unknown> {
  readonly env: string;
  readonly doc: string;
  /** The default as an operator would write it; undefined = not set. */
  readonly default: string | undefined;
  /** A secret is never logged nor echoed back in an error. */
  readonly secret?: boolean;
  /** From the variable's text to the value. */
  readonly schema: z.ZodType<T, string>;
}

/** A whole number in [min, max]; "1e3", "-1", "1.5" are refused. */
export const integer = (min: number, max: number) => {
  const error = `must be a whole number from ${min} to ${max}`;
  return z.string().trim().regex(/^\d+$/, { error }).transform(Number).pipe(z.number().int().min(min, { error }).max(max, { error }));
};

/**
 * Every duration setting feeds a JavaScript timer, whose delay is a signed 32-bit count of
 * milliseconds (about 24.8 days): longer would fire at once. P24D stays below it.
 */
export const MAX_SETTING_DURATION: DurationBound = { text: "P24D", seconds: 24 * 86_400 };

/** HTTP_REQUEST_TIMEOUT's bound: a client that needs longer than this for one request is not one the API serves. */
export const MAX_HTTP_REQUEST_TIMEOUT: DurationBound = { text: "PT10M", seconds: 600 };

/** An ISO-8601 duration, as milliseconds. */
export const durationMs = () => durationSeconds(MAX_SETTING_DURATION).transform((seconds) => seconds * 1000);

export const BOOLEAN_WORDS = { truthy: ["true", "1", "yes", "on"], falsy: ["false", "0", "no", "off"] } as const;
export const boolean = () =>
  z
    .string()
    .trim()
    .pipe(z.stringbool({ truthy: [...BOOLEAN_WORDS.truthy], falsy: [...BOOLEAN_WORDS.falsy], case: "insensitive", error: "must be true or false (also 1/0, yes/no, on/off; any case)" }));

export const oneOf = <const T extends readonly [string, ...string[]]>(values: T) => z.enum(values, { error: `must be one of ${values.join(", ")}` });

export const text = () => z.string().trim().min(1, { error: "must not be blank" });

/** Every BullMQ key starts with it: a newline, a space or a byte outside ASCII would make keys no operator can type back. */
const queuePrefix = () =>
  z.string().trim().regex(/^[\x21-\x7e]{1,64}$/, { error: "must be 1 to 64 printable ASCII characters without spaces (letters, digits, punctuation), e.g. bull or {watchdog}" });

const HOST_LABEL = "[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?";
const HOST_NAME = new RegExp(`^(?=.{1,253}$)${HOST_LABEL}(?:\\.${HOST_LABEL})*\\.?$`);

/**
 * What a listener binds: an IP address (IPv6 without brackets) or a host name (labels of letters,
 * digits, hyphens and underscores, joined by dots). No spaces, control characters, scheme or port.
 */
export const listenHost = () =>
  text().refine((host) => isIP(host) !== 0 || HOST_NAME.test(host), {
    error: "must be an IP address (e.g. 127.0.0.1, 0.0.0.0, ::1) or a host name (letters, digits, hyphens and dots; no spaces, control characters, scheme or port)",
  });

/**
 * A connection string: `<scheme>://[user[:password]@]host[:port]/path`, parsed by the WHATWG URL
 * parser; the one message is the first thing missing. The `//` and the host are required:
 * `postgres:pw@host/db` parses as a URL with no host at all, and every connection then fails.
 * A Redis URL's path is a database index or nothing.
 * The value is a secret, so no message quotes any part of it.
 */
const connectionUrl = (options: { schemes: readonly string[]; example: string; needs?: ("user" | "database" | "database index")[] }) =>
  z.string().check((ctx) => {
    const fail = (message: string): void => void ctx.issues.push({ code: "custom", message, input: ctx.value });
    const schemes = options.schemes.map((s) => `${s}://`).join(" or ");
    let url: URL;
    try {
      url = new URL(ctx.value);
    } catch {
      return fail(`must be a URL such as ${options.example}`);
    }
    if (!options.schemes.includes(url.protocol.replace(/:$/, ""))) return fail(`must start with ${schemes}, e.g. ${options.example}`);
    if (!/^[a-z]+:\/\//i.test(ctx.value.trim()) || url.hostname === "") return fail(`must name a host after "${url.protocol}//", e.g. ${options.example}`);
    if (options.needs?.includes("user") && url.username === "") return fail(`names no user; write ${options.example}`);
    if (options.needs?.includes("database") && url.pathname.replace(/^\//, "") === "") return fail(`names no database; end it with /DATABASE, e.g. ${options.example}`);
    // ioredis reads the path with Number.parseInt: `/abc` would be no index at all (database 0), `/2x` database 2.
    if (options.needs?.includes("database index") && !/^\/?(\d+)?$/.test(url.pathname)) return fail(`must end with a database index (/0, /1, …) or no path at all, e.g. ${options.example}`);
  });

const apiTokens = z.string().transform((raw, ctx): ApiToken[] => {
  const parsed = parseApiTokens(raw);
  if ("error" in parsed) {
    ctx.issues.push({ code: "custom", message: parsed.error, input: raw });
    return z.NEVER;
  }
  return parsed.value;
});

/** An ISO-8601 duration that may be under a second (PT0.2S), as milliseconds in [minMs, maxMs]: polling and retry delays. */
export const shortDurationMs = (minMs: number, maxMs: number) =>
  z.string().transform((raw, ctx) => {
    const d = Duration.fromISO(raw.trim());
    const ms = d.isValid && d.months === 0 && d.years === 0 ? d.as("milliseconds") : Number.NaN;
    if (!Number.isNaN(ms) && ms >= minMs && ms <= maxMs) return Math.round(ms);
    ctx.issues.push({ code: "custom", message: `must be an ISO-8601 duration from ${minMs} ms to ${Math.round(maxMs / 1000)} s, e.g. "PT1S" or "PT0.5S"`, input: raw });
    return z.NEVER;
  });

const MIN_BOARD_PASSWORD_LENGTH = 12;

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

export const SETTINGS = {
  databaseUrl: {
    env: "DATABASE_URL",
    doc: "PostgreSQL connection string. `npm run db:migrate` creates the database when it is missing.",
    default: "postgresql://postgres@127.0.0.1:5432/task_watchdog",
    secret: true,
    schema: connectionUrl({ schemes: ["postgresql", "postgres"], example: "postgresql://USER[:PASSWORD]@HOST:5432/DATABASE", needs: ["user", "database"] }),
  },
  redisUrl: {
    env: "REDIS_URL",
    doc: "Redis connection string; a DB index in the path (`/2`) is honoured, one the server does not have is refused at start, and so is a path that is not one (`/abc`, `/2x`: ioredis would read database 0 or 2).",
    default: "redis://127.0.0.1:6379/0",
    secret: true,
    schema: connectionUrl({ schemes: ["redis", "rediss"], example: "redis://[USER:PASSWORD@]HOST:6379/0", needs: ["database index"] }),
  },
  redisClusterNodes: {
    env: "REDIS_CLUSTER_NODES",
    doc: "Redis Cluster seed nodes, `host:port,host:port,…`. Set, every connection is an ioredis Cluster client; user, password and TLS (`rediss:`) then come from REDIS_URL, whose host is not used, and QUEUE_PREFIX must be braced (`{watchdog}`).",
    default: undefined,
    schema: clusterNodes,
  },
  queuePrefix: {
    env: "QUEUE_PREFIX",
    doc: "Prefix of every BullMQ key: 1 to 64 printable ASCII characters, no spaces. Use `{watchdog}` (with braces) on a Redis Cluster.",
    default: "bull",
    schema: queuePrefix(),
  },
  logLevel: {
    env: "LOG_LEVEL",
    doc: `pino log level: ${LOG_LEVELS.join(", ")}.`,
    default: "info",
    schema: oneOf(LOG_LEVELS),
  },
  logPretty: {
    env: "LOG_PRETTY",
    doc: "Human-readable logs (needs the dev dependency pino-pretty). JSON otherwise.",
    default: "false",
    schema: boolean(),
  },
  apiHost: {
    env: "API_HOST",
    doc: "Address the external API listener binds (`PATCH …/restartprocessing` and the read API). An IP address (IPv6 without brackets) or a host name. Loopback by default; `0.0.0.0` exposes it.",
    default: "127.0.0.1",
    schema: listenHost(),
  },
  apiPort: {
    env: "API_PORT",
    doc: "Port of the external API listener (0 picks a free port).",
    default: "3000",
    schema: integer(0, 65535),
  },
  opsHost: {
    env: "OPS_HOST",
    doc: "Address the ops listener binds (`/healthz`, `/readyz`, `/health/sweeps`, `/metrics`, Bull Board). An IP address (IPv6 without brackets) or a host name. Loopback by default; beyond loopback Bull Board needs BULL_BOARD_USER and BULL_BOARD_PASSWORD.",
    default: "127.0.0.1",
    schema: listenHost(),
  },
  opsPort: {
    env: "OPS_PORT",
    doc: "Port of the ops listener (0 picks a free port).",
    default: "3001",
    schema: integer(0, 65535),
  },
  httpRequestTimeoutMs: {
    env: "HTTP_REQUEST_TIMEOUT",
    doc: "How long a client may take to send a whole request (headers and body) to either listener; its headers must arrive within 10 s (or this, when shorter). A request not received in time is answered 408 and its connection closed. At least PT1S, at most PT10M; with the default, the largest body taken (2 MiB) needs about 70 KiB/s (ISO-8601 duration).",
    default: "PT30S",
    schema: durationSeconds(MAX_HTTP_REQUEST_TIMEOUT).transform((seconds) => seconds * 1000),
  },
  sweepIntervalMs: {
    env: "SWEEP_INTERVAL",
    doc: "How often the scheduled sweep runs, across all replicas (ISO-8601 duration).",
    default: "PT1M",
    schema: durationMs(),
  },
  sweepBatchSize: {
    env: "SWEEP_BATCH_SIZE",
    doc: "Tasks changed per transaction at most; a backlog is drained batch after batch. The size adapts below this to SWEEP_BATCH_TIME_BUDGET_MS.",
    default: "1000",
    schema: integer(1, 50_000),
  },
  sweepBatchTimeBudgetMs: {
    env: "SWEEP_BATCH_TIME_BUDGET_MS",
    doc: "How long one batch may hold its rows' locks, in milliseconds: a slower batch shrinks the next, a fast one grows it back towards SWEEP_BATCH_SIZE. Each batch runs with 90 % of it as its statement timeout (never more than DATABASE_STATEMENT_TIMEOUT): one that would run longer is cancelled, nothing of it applied, and retried at a quarter of its size. Only a batch of the smallest size (10) may run past it, so the sweep always moves on.",
    default: "100",
    schema: integer(10, 60_000),
  },
  escalateAfterReverts: {
    env: "ESCALATE_AFTER_REVERTS",
    doc: "The automatic revert that brings a task's count to this many (and every later one) says \"stuck again for the Nth time …; needs support\" and is counted in watchdog_tasks_escalated_total.",
    default: "3",
    schema: integer(1, 1000),
  },
  sweepScheduleEnabled: {
    env: "SWEEP_SCHEDULE_ENABLED",
    doc: "Register the repeating sweep (job scheduler `task-watchdog-sweep`). `false` removes it; manual sweeps still run.",
    default: "true",
    schema: boolean(),
  },
  reprocessConcurrency: {
    env: "REPROCESS_CONCURRENCY",
    doc: "Reprocess requests (queue `task-reprocess`) one replica applies at once; each holds one database connection while it runs.",
    default: "5",
    schema: integer(1, 100),
  },
  bulkReprocessRate: {
    env: "BULK_REPROCESS_RATE",
    doc: "Bulk reprocess pace: at most this many tasks per organization in any one second, over all replicas and all of the organization's bulks (docs/reprocess.md, \"Bulk reprocess\").",
    default: "50",
    schema: integer(1, 1000),
  },
  bulkReprocessMaxRunning: {
    env: "BULK_REPROCESS_MAX_RUNNING",
    doc: "Bulk reprocesses one organization may have running at once, over all replicas: starting another (HTTP or CLI) is refused (HTTP 409, CLI exit 4) until one of them is done or cancelled. A retry of a bulk already started (its Idempotency-Key) still answers with it (docs/reprocess.md, \"Bulk reprocess\").",
    default: "10",
    schema: integer(1, 1000),
  },
  rulesFile: {
    env: "RULES_FILE",
    doc: "Path of a JSON file of rule overrides (see Rules).",
    default: undefined,
    schema: text(),
  },
  rulesJson: {
    env: "RULES_JSON",
    doc: "Rule overrides inline, same format as the file; applied after it.",
    default: undefined,
    schema: text(),
  },
  databasePoolSize: {
    env: "DATABASE_POOL_SIZE",
    doc: "PostgreSQL connections of the worker's main pool (sweep, reprocess, API, health), per replica; the outbox has min(WEBHOOK_CONCURRENCY, 4) + 2 of its own, and one for its gauges. Default: REPROCESS_CONCURRENCY + 5. At least REPROCESS_CONCURRENCY + 1 (each reprocess in flight holds one). Behind PgBouncer these are client connections; see docs/performance.md for the budget of many replicas.",
    default: undefined,
    schema: integer(2, 500),
  },
  databaseStatementTimeoutMs: {
    env: "DATABASE_STATEMENT_TIMEOUT",
    doc: "PostgreSQL cancels any statement of the worker running longer (statement_timeout), and ends a session idle in a transaction that long; the client gives up 2 s later when the server cannot answer at all (frozen). The attempt fails: a reprocess is retried, a sweep tries again next interval. Must exceed the longest sweep batch (ISO-8601 duration).",
    default: "PT30S",
    schema: durationMs(),
  },
  databaseConnectTimeoutMs: {
    env: "DATABASE_CONNECT_TIMEOUT",
    doc: "Opening a PostgreSQL connection, or waiting for a free one of the pool, fails after this (ISO-8601 duration).",
    default: "PT10S",
    schema: durationMs(),
  },
  shutdownTimeoutMs: {
    env: "SHUTDOWN_TIMEOUT",
    doc: "The whole graceful shutdown fits in this (ISO-8601 duration): work in flight gets all but the last 20% (at most 2 s) and is left to another replica past it (exit 124).",
    default: "PT30S",
    schema: durationMs(),
  },
  sweepOverdueAfterMs: {
    env: "SWEEP_OVERDUE_AFTER",
    doc: "No sweep completed (on any replica) for this long turns `/health/sweeps` red and `watchdog_sweep_overdue` to 1 (ISO-8601 duration). Default: 3 × SWEEP_INTERVAL; with the schedule on it must be longer than SWEEP_INTERVAL, or it would be crossed between every two sweeps.",
    default: undefined,
    schema: durationMs(),
  },
  bullBoardUser: {
    env: "BULL_BOARD_USER",
    doc: "Bull Board (`/admin/queues`) Basic-auth user, without a colon (Basic auth ends the user at the first one). Required, with BULL_BOARD_PASSWORD, when OPS_HOST is not loopback.",
    default: undefined,
    schema: text().refine((user) => !user.includes(":"), { error: 'must not contain ":": Basic auth ends the user at the first colon, so this user could never log in' }),
  },
  bullBoardPassword: {
    env: "BULL_BOARD_PASSWORD",
    doc: `Bull Board Basic-auth password (at least ${MIN_BOARD_PASSWORD_LENGTH} characters).`,
    default: undefined,
    secret: true,
    schema: z.string().min(MIN_BOARD_PASSWORD_LENGTH, { error: `must be at least ${MIN_BOARD_PASSWORD_LENGTH} characters long` }),
  },
  bullBoardReadOnly: {
    env: "BULL_BOARD_READ_ONLY",
    doc: "Bull Board shows queues and jobs but offers no retry, clean, empty, pause or remove (the default). `false` switches those on: on a queue of a million jobs, Empty and Clean are single Redis commands that block Redis (every queue, every replica) for seconds.",
    default: "true",
    schema: boolean(),
  },
  consoleActionsEnabled: {
    env: "CONSOLE_ACTIONS_ENABLED",
    doc: "The operator console (`/admin/console`, behind Bull Board's credentials) offers pause, resume, release and webhook replay, and `POST /admin/events/replay` is open. Off by default: the console only shows.",
    default: "false",
    schema: boolean(),
  },
  apiTokens: {
    env: "API_TOKENS",
    doc: `Bearer tokens of the HTTP API, each bound to one organization: \`<token>:<organizationId>,…\` (tokens of at least ${MIN_TOKEN_LENGTH} characters). For a small set-up: one environment string holds about 2,400 tokens at most (Linux's 128 KiB); many organizations keep their tokens in the database (\`watchdog tokens …\`), checked the same way. Neither set: the API answers 401.`,
    default: undefined,
    secret: true,
    schema: apiTokens,
  },
  cell: {
    env: "CELL",
    doc: "The cell this deployment serves, when the platform is split into cells (one deployment per cell, sharing nothing): added as the `cell` label of every metric this process exports, so one Prometheus can watch several cells apart. Lowercase letters, digits and dashes; unset for a single deployment.",
    default: undefined,
    schema: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, { error: "must be lowercase letters, digits and dashes (up to 63), e.g. eu-1" }),
  },
  buildCommit: {
    env: "WATCHDOG_COMMIT",
    doc: "The commit this build was made from, shown as the `commit` label of `watchdog_build_info` (`unknown` when unset); set it where you deploy, e.g. `WATCHDOG_COMMIT=$(git rev-parse --short HEAD)`.",
    default: undefined,
    schema: text(),
  },
  eventsQueueEnabled: {
    env: "EVENTS_QUEUE_ENABLED",
    doc: "Relay every task event to the BullMQ queue `task-watchdog-events` (see docs/events.md). Off by default: switch it on once a consumer takes the jobs, or they pile up in Redis.",
    default: "false",
    schema: boolean(),
  },
  outboxPollIntervalMs: {
    env: "OUTBOX_POLL_INTERVAL",
    doc: "How often each replica looks for new task events to relay (ISO-8601 duration, sub-second allowed); also at once when the replica's own sweep ends.",
    default: "PT1S",
    schema: shortDurationMs(10, 3_600_000),
  },
  outboxBatchSize: {
    env: "OUTBOX_BATCH_SIZE",
    doc: "Events read and relayed per page.",
    default: "500",
    schema: integer(1, 10_000),
  },
  webhooksFile: {
    env: "WEBHOOKS_FILE",
    doc: 'Path of a JSON file of webhook endpoints: `[{ "organizationId": 7, "url": "https://…", "secret": "whsec_…" }]`. https only, except loopback. For a small set-up; many organizations: `watchdog webhooks …` (endpoints in the database).',
    default: undefined,
    schema: text(),
  },
  webhooksJson: {
    env: "WEBHOOKS_JSON",
    doc: "Webhook endpoints inline, same format as the file; added to it (one endpoint per organization). A secret: never logged.",
    default: undefined,
    secret: true,
    schema: text(),
  },
  webhookSecretsKeys: {
    env: "WEBHOOK_SECRETS_KEY",
    doc: "The key that seals the signing secrets of webhook endpoints kept in the database (`watchdog webhooks …`): the base64 of 32 bytes (`openssl rand -base64 32`). Several keys, comma-separated, while rotating it: the first seals, all open. Not needed for WEBHOOKS_FILE / WEBHOOKS_JSON.",
    default: undefined,
    secret: true,
    schema: z.string().transform((raw, ctx): Buffer[] => {
      const parsed = parseSecretKeys(raw);
      if ("error" in parsed) {
        ctx.issues.push({ code: "custom", message: parsed.error, input: raw });
        return z.NEVER;
      }
      return parsed.value;
    }),
  },
  webhookTimeoutMs: {
    env: "WEBHOOK_TIMEOUT",
    doc: "How long one webhook request may take before it counts as failed (ISO-8601 duration).",
    default: "PT10S",
    schema: shortDurationMs(100, 300_000),
  },
  webhookRetryDelayMs: {
    env: "WEBHOOK_RETRY_DELAY",
    doc: "Wait before the first retry of a failed webhook; it doubles at each failure up to WEBHOOK_RETRY_MAX_DELAY (ISO-8601 duration).",
    default: "PT10S",
    schema: shortDurationMs(10, 3_600_000),
  },
  webhookRetryMaxDelayMs: {
    env: "WEBHOOK_RETRY_MAX_DELAY",
    doc: "Longest wait between two retries of a webhook (ISO-8601 duration).",
    default: "PT1H",
    schema: shortDurationMs(10, 24 * 3_600_000),
  },
  webhookRetryForMs: {
    env: "WEBHOOK_RETRY_FOR",
    doc: "How long one event is retried before it is given up (counted as given_up and logged; the next event goes out). Keep it at least P1D.",
    default: "P3D",
    schema: durationMs(),
  },
  webhookConcurrency: {
    env: "WEBHOOK_CONCURRENCY",
    doc: "Organizations whose webhooks one replica delivers at once; they share the outbox's few database connections (a request in flight holds none). A replica has at most this × WEBHOOK_ENDPOINT_CONCURRENCY requests in flight (64 by default, and as many connections per host): against endpoints that answer in 200 ms, ~320 events/s per replica. Raise it for slow endpoints or many organizations.",
    default: "16",
    schema: integer(1, 100),
  },
  webhookEndpointConcurrency: {
    env: "WEBHOOK_ENDPOINT_CONCURRENCY",
    doc: "Requests in flight at once to one organization's endpoint: one organization's events go out at most this many per endpoint latency (4 per 200 ms: 20/s). Events of one task always go one after the other, in order; 1 sends all of an organization's events in order. A replica killed with `kill -9` re-sends at most 4 × this many events per organization.",
    default: "4",
    schema: integer(1, 64),
  },
  webhookOrganizationTurnMs: {
    env: "WEBHOOK_ORGANIZATION_TURN",
    doc: "How long one replica delivers one organization before it hands over to the organizations waiting behind it (when more than WEBHOOK_CONCURRENCY have events): no new request of it starts after this, and it takes its turn again behind them. A slow endpoint holds a place for at most this plus one WEBHOOK_TIMEOUT (ISO-8601 duration).",
    default: "PT10S",
    schema: shortDurationMs(100, 3_600_000),
  },
  webhookEndpointsRefreshMs: {
    env: "WEBHOOK_ENDPOINTS_REFRESH",
    doc: "How often the endpoints kept in the database (`watchdog webhooks …`, with WEBHOOK_SECRETS_KEY) are read again: a created, rotated or disabled endpoint takes effect within this (ISO-8601 duration).",
    default: "PT30S",
    schema: shortDurationMs(100, 3_600_000),
  },
  outboxLeaseMs: {
    env: "OUTBOX_LEASE",
    doc: "How long a replica's claim on an organization's deliveries (or on dispatch, the events queue, the retention) lasts without renewal: after a replica dies, another takes its work over within this (ISO-8601 duration).",
    default: "PT10S",
    schema: shortDurationMs(1000, 600_000),
  },
  eventsQueueMaxWaiting: {
    env: "EVENTS_QUEUE_MAX_WAITING",
    doc: "Jobs waiting in the events queue past which the relay stops adding to it (watchdog_events_queue_capped = 1, alert WatchdogEventsQueueAtCap); the events wait in the outbox and are added once consumers catch up.",
    default: "100000",
    schema: integer(1, 100_000_000),
  },
  eventsRetentionMs: {
    env: "EVENTS_RETENTION",
    doc: "How long delivered task events are kept (ISO-8601 duration, at most P3650D: no timer waits on it); pruned a month (one partition) at a time, never an undelivered one. Also how long a finished bulk reprocess (done or cancelled, never a running one) is kept after it finished: then it is deleted with its items, its GET answers 404 and its Idempotency-Key starts a new bulk.",
    default: "P90D",
    schema: durationSeconds({ text: "P3650D", seconds: 3650 * 86_400 }).transform((seconds) => seconds * 1000),
  },
} as const satisfies Record<string, Setting>;

type Settings = typeof SETTINGS;
export type Config = {
  -readonly [K in keyof Settings]: Settings[K]["default"] extends string ? z.output<Settings[K]["schema"]> : z.output<Settings[K]["schema"]> | undefined;
};
