// The OpenAPI 3.1 document of the whole HTTP API: the external API listener (API_HOST/API_PORT:
// the read API, restartprocessing, this document) and the ops listener (OPS_HOST/OPS_PORT:
// health, readiness, sweep health, metrics, Bull Board). Query parameters and JSON bodies are
// generated from the zod schemas the handlers parse and answer with; the rest is written here.
// docs/openapi.json is this document, checked in (`npm run -s openapi > docs/openapi.json`);
// test/integration/openapi.test.ts holds the two together and checks every served route is here.
import { readFileSync } from "node:fs";
import { z } from "zod";
import { apiSchemas, ErrorBody, TaskEventListBody, TaskStatusBody, TaskStatusListBody } from "../read-api/bodies.js";
import { TASK_EVENTS_PATH, TaskEventsQuery } from "../read-api/task-events.js";
import { TASK_STATUS_LIST_PATH, TaskStatusListQuery } from "../read-api/task-status-list.js";
import { TASK_STATUS_PATH, TaskRefQuery } from "../read-api/task-status.js";
import { RESTART_PROCESSING_PATH } from "../restart-processing.js";
import { QUERY_SHAPE as RESTART_PROCESSING_QUERY } from "../restart-processing-query.js";
import { BOARD_PATH } from "../../ops/bull-board.js";
import { consoleOpenApiPaths } from "../../ops/console/openapi.js";
import { API_READINESS_PATH } from "../readiness-path.js";
import { BulkItemsBody, BulkPreviewBody, BulkProgressBody } from "../../reprocess/bulk-bodies.js";
import { BULK_CANCEL_PATH, BULK_ITEMS_PATH, BULK_REPROCESS_PATH, BulkIdQuery, BulkItemsQuery } from "../bulk-reprocess.js";
import { BulkBody, BulkQuery } from "../../reprocess/bulk-request.js";
import { componentSchemas, queryParameters, ref } from "./zod-openapi.js";

export const OPENAPI_PATH = "/api/openapi.json";

const opsSchemas = z.registry<{ id: string }>();
export const Health = z.strictObject({ status: z.literal("ok") });
export const Readiness = z.strictObject({
  status: z.enum(["ready", "not ready"]),
  checks: z.strictObject({
    redis: z.string().meta({ description: '"ok", or why Redis did not answer.' }),
    postgres: z.string().meta({ description: '"ok", or why PostgreSQL did not answer.' }),
  }),
});
export const ApiReadiness = z.strictObject({
  status: z.enum(["ready", "not ready"]),
  checks: z.strictObject({ postgres: z.string().meta({ description: '"ok", or "unavailable (the ops listener\'s /readyz says why)": never the error itself (this answer needs no token).' }) }),
});
export const SweepHealth = z
  .looseObject({
    status: z.enum(["ok", "overdue", "held", "paused", "unknown"]).meta({ description: '"ok" (200); otherwise 503: no sweep completed within the overdue span, a status held, a rule paused, or Redis/PostgreSQL could not say ("unknown").' }),
    error: z.string().optional().meta({ description: "Why the state is unknown." }),
    problems: z.array(z.string()).meta({ description: "Each reason it is not OK, in words." }),
    lastCompletedAt: z.string().nullable(),
    secondsSinceLastCompleted: z.number().nullable(),
    overdueAfterSeconds: z.number().nullable(),
    held: z.record(z.string(), z.looseObject({ stuck: z.number(), limit: z.number() })).meta({ description: "Per status name, what the last completed sweep held (too many stuck at once)." }),
    paused: z.array(z.looseObject({ rule: z.string(), by: z.string(), since: z.string(), until: z.string().nullable().optional(), reason: z.string() })).meta({ description: "The pauses in force." }),
  })
  .meta({ description: "Sweep health for monitoring and alerting (not a Kubernetes probe); see docs/metrics.md. Further fields may be added." });
opsSchemas.add(Health, { id: "Health" });
opsSchemas.add(Readiness, { id: "Readiness" });
opsSchemas.add(ApiReadiness, { id: "ApiReadiness" });
opsSchemas.add(SweepHealth, { id: "SweepHealth" });

const version = (JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string }).version;

const header = (name: string) => ({ $ref: `#/components/headers/${name}` });
const json = (schema: unknown) => ({ "application/json": { schema } });
const error = (description: string, headers: Record<string, unknown> = {}) => ({
  description,
  headers: { "X-Error": header("X-Error"), ...headers },
  content: json(ref(apiSchemas, ErrorBody)),
});
const readApiRefusals = {
  "400": error("A bad parameter: unknown, given twice, malformed, out of range, or with control characters. The reason names it."),
  "401": error("No valid bearer token.", { "WWW-Authenticate": header("WWW-Authenticate") }),
};
const notFound = { "404": error("No such task in the token's organization (another organization's task included).") };
const databaseUnavailable = {
  "503": error("PostgreSQL is unreachable or not answering: nothing was done; send the request again after Retry-After.", { "Retry-After": header("Retry-After") }),
};

/**
 * Where the listeners are: docs/openapi.json names the defaults. A running worker serves its API
 * listener as bound, and the ops listener at its defaults always: the document needs no token, and
 * the ops listener's address (health, metrics, Bull Board) is internal.
 */
export interface Listeners {
  api: { host: string; port: string };
  ops: { host: string; port: string };
}
const DEFAULT_LISTENERS: Listeners = { api: { host: "127.0.0.1", port: "3000" }, ops: { host: "127.0.0.1", port: "3001" } };

/** What a running worker's document names, from its API listener's URL (http://host:port). */
export function listenersAt(apiUrl: string): Listeners {
  const url = new URL(apiUrl);
  return { api: { host: url.hostname, port: url.port }, ops: DEFAULT_LISTENERS.ops };
}

/** A pure function of the code and where the listeners are. */
export function openApiDocument(listeners: Listeners = DEFAULT_LISTENERS): Record<string, unknown> {
  const opsServer = {
    url: "http://{opsHost}:{opsPort}",
    description: "The ops listener (OPS_HOST, OPS_PORT): keep it on loopback or an internal network.",
    variables: { opsHost: { default: listeners.ops.host }, opsPort: { default: listeners.ops.port } },
  };
  return {
    openapi: "3.1.0",
    info: {
      title: "task-watchdog",
      version,
      description:
        "The watchdog's HTTP API. The external API (API_HOST:API_PORT) serves the platform's customers: find stuck tasks (the read API), then reprocess the ones they choose. " +
        "The ops listener (OPS_HOST:OPS_PORT) serves health, readiness, metrics and Bull Board. A known path asked with another method answers 405 with `Allow`; an unknown path 404.",
    },
    servers: [
      {
        url: "http://{apiHost}:{apiPort}",
        description: "The external API listener (API_HOST, API_PORT).",
        variables: { apiHost: { default: listeners.api.host }, apiPort: { default: listeners.api.port } },
      },
    ],
    security: [{ bearerAuth: [] }],
    tags: [
      { name: "read API", description: "Find the tasks that are stuck (mirrors the platform's GET Task Status, GET Task Status List, GET Task Status List Paginated)." },
      { name: "reprocess", description: "Reprocess a task (mirrors the platform's PATCH restartprocessing)." },
      { name: "ops", description: "The ops listener: health, readiness, sweep health, metrics, Bull Board." },
      { name: "document", description: "This document." },
    ],
    paths: { ...readApiPaths(), ...restartProcessingPaths(), ...apiListenerPaths(), ...bulkPaths(), ...opsPaths(opsServer) },
    components: components(),
  };
}

/** The read API (src/api/read-api/): GET only, bearer token, answers with the refusals every read shares. */
function readApiPaths(): Record<string, unknown> {
  return {
    [TASK_STATUS_PATH]: {
      get: {
        tags: ["read API"],
        operationId: "getTaskStatus",
        summary: "One task's status (mirrors GET Task Status)",
        description: "Give exactly one of taskId or externalId. `stuck` is judged by the effective rules and the database clock, as the sweep judges it.",
        parameters: queryParameters(TaskRefQuery.shape),
        responses: { "200": { description: "The task.", content: json(ref(apiSchemas, TaskStatusBody)) }, ...readApiRefusals, ...notFound, ...databaseUnavailable },
      },
    },
    [TASK_STATUS_LIST_PATH]: {
      get: {
        tags: ["read API"],
        operationId: "listTaskStatuses",
        summary: "The organization's tasks, filtered, in pages (mirrors GET Task Status List Paginated)",
        description:
          "Tasks in id order. Keyset pagination: pass `nextCursor` back as `cursor`. A task that exists throughout is listed exactly once over all pages, however tasks change status between the calls. A page reads at most 10 rows per row of `limit`: where a filter matches few tasks a page can be short, even empty, with a `nextCursor` to go on from; follow it until it is null. Followed to the last page, this is GET Task Status List.",
        parameters: queryParameters(TaskStatusListQuery.shape, { lists: ["status"] }),
        responses: { "200": { description: "One page.", content: json(ref(apiSchemas, TaskStatusListBody)) }, ...readApiRefusals, ...databaseUnavailable },
      },
    },
    [TASK_EVENTS_PATH]: {
      get: {
        tags: ["read API"],
        operationId: "listTaskEvents",
        summary: "One task's audit trail, oldest first",
        description: "Give exactly one of taskId or externalId. The watchdog's own record (task_events); the platform documents no counterpart.",
        parameters: queryParameters(TaskEventsQuery.shape),
        responses: { "200": { description: "One page of events.", content: json(ref(apiSchemas, TaskEventListBody)) }, ...readApiRefusals, ...notFound, ...databaseUnavailable },
      },
    },
  };
}

/** PATCH restartprocessing (src/api/restart-processing.ts): bodies are empty, as the platform's, so every refusal is a header. */
function restartProcessingPaths(): Record<string, unknown> {
  return {
    [RESTART_PROCESSING_PATH]: {
      patch: {
        tags: ["reprocess"],
        operationId: "restartProcessing",
        summary: "Reprocess one task (mirrors PATCH restartprocessing)",
        description: "Give exactly one of taskId or externalId. Enqueues the reprocess; the worker applies it once. Bodies are empty, as the platform documents; a refusal says why in X-Error.",
        parameters: queryParameters(RESTART_PROCESSING_QUERY, {
          descriptions: {
            taskId: "The task's id.",
            externalId: "The task's external id (unique within your organization).",
            force: "true: skip the reprocess guard (a task being deleted, or whose machine work is still in flight within its threshold); the reprocess is audited as forced.",
          },
        }),
        responses: {
          "202": { description: "Accepted: enqueued on task-reprocess. The same task asked again while it waits gives the same job.", headers: { "X-Job-Id": header("X-Job-Id") } },
          "400": { description: "A bad parameter (unknown, given twice, malformed, control characters); the reason in X-Error.", headers: { "X-Error": header("X-Error") } },
          "401": { description: "No valid bearer token.", headers: { "WWW-Authenticate": header("WWW-Authenticate") } },
          "404": { description: "No such task in the token's organization (another organization's task included)." },
          "409": {
            description: "Refused by the reprocess guard: the task is Deleting or Deleted, or its machine work is in flight and not yet past its threshold (a restart would run paid work twice). The reason in X-Error; `force=true` overrides.",
            headers: { "X-Error": header("X-Error") },
          },
          "503": {
            description: "The request queue (Redis) or PostgreSQL is unavailable: nothing was enqueued, nothing will be applied later; send the request again after Retry-After.",
            headers: { "X-Error": header("X-Error"), "Retry-After": header("Retry-After") },
          },
        },
      },
    },
  };
}

/** What else the API listener serves: this document and its own readiness. */
function apiListenerPaths(): Record<string, unknown> {
  return {
    [OPENAPI_PATH]: {
      get: {
        tags: ["document"],
        operationId: "getOpenApiDocument",
        summary: "This document",
        security: [],
        responses: { "200": { description: "The OpenAPI 3.1 document of the whole HTTP API.", content: { "application/json": { schema: { type: "object" } } } } },
      },
    },
    [API_READINESS_PATH]: {
      get: {
        tags: ["ops"],
        operationId: "apiReadiness",
        summary: "Readiness of the API listener: PostgreSQL answers",
        description:
          "What a Kubernetes readinessProbe asks: the read API needs PostgreSQL only, and PATCH restartprocessing answers 503 by itself while Redis is away, so a Redis outage does not take the API out of its Service. The worker's own readiness (Redis and PostgreSQL) is GET /readyz on the ops listener.",
        security: [],
        responses: {
          "200": { description: "Ready.", content: json(ref(opsSchemas, ApiReadiness)) },
          "503": { description: "Not ready: PostgreSQL does not answer.", headers: { "Retry-After": header("Retry-After") }, content: json(ref(opsSchemas, ApiReadiness)) },
        },
      },
    },
  };
}

/** The bulk reprocess endpoints (src/api/bulk-reprocess.ts). */
function bulkPaths(): Record<string, unknown> {
  return {
    [BULK_REPROCESS_PATH]: {
      post: {
        tags: ["reprocess"],
        operationId: "bulkReprocess",
        summary: "Preview, or start, the reprocess of many tasks",
        description:
          "Select by ids (a JSON body `{\"taskIds\": [...]}` or `{\"externalIds\": [...]}`) or by the status list's filters in the query (the same parameters as GET …/statuslist, without paging). " +
          "`dryRun=true` answers what the bulk would do and changes nothing. Otherwise an `Idempotency-Key` header is required: the same key and request again answer with the same bulk (`Idempotent-Replayed: true`), never a second one. " +
          "The bulk is applied by the worker at the organization's pace (BULK_REPROCESS_RATE tasks per second, over all its bulks), each task through the same reprocess statement and guard as PATCH restartprocessing, once; each REPROCESSED event carries the bulk's id in `details.bulkId`. Reprocessing is destructive: people's edits are discarded.",
        parameters: [
          { name: "Idempotency-Key", in: "header", required: false, description: "Required unless dryRun=true: a unique key per bulk (e.g. a UUID), the same one when the request is retried. Printable ASCII, at most 200 characters. A finished bulk is kept for EVENTS_RETENTION (90 days by default); once deleted, its key starts a new bulk.", schema: { type: "string", maxLength: 200 } },
          ...queryParameters(BulkQuery.shape, { lists: ["status"] }),
        ],
        requestBody: { required: false, description: "Ids to reprocess; leave out to select by the query's filters.", content: json(ref(apiSchemas, BulkBody)) },
        responses: {
          "200": { description: "dryRun=true: the preview.", content: json(ref(apiSchemas, BulkPreviewBody)) },
          "202": {
            description: "Accepted: the bulk (with the preview as it stood) and where to follow it. Also the answer to the same Idempotency-Key and request again.",
            headers: { Location: header("Location"), "Idempotent-Replayed": header("Idempotent-Replayed") },
            content: json(ref(apiSchemas, BulkProgressBody)),
          },
          ...readApiRefusals,
          "409": error("The organization already has BULK_REPROCESS_MAX_RUNNING bulks running (X-Error names them): wait for one to finish or cancel one, then send the request again with the same Idempotency-Key. A retry of a bulk already started is still answered 202 with it."),
          "413": error("The body is over 2 MiB."),
          "415": error("A body that is not application/json."),
          "422": error("The Idempotency-Key started a bulk for a different request; or the selection matches more than 50,000 tasks, or none; or the filter has a condition no index serves (location, changedSince, changedUntil, stuck=false, warning=false) over more than 5,000,000 of the organization's tasks (add status, use warning=true or stuck=true, or send ids)."),
          "503": error("Another start of the organization is in progress (it holds the organization's start lock while it inserts its bulk; answered at once, not waited for; X-Error says so, Retry-After: 2), or PostgreSQL is unavailable (Retry-After: 5): nothing was started; send the request again with the same Idempotency-Key after Retry-After.", { "Retry-After": header("Retry-After") }),
        },
      },
      get: {
        tags: ["reprocess"],
        operationId: "getBulkReprocess",
        summary: "A bulk reprocess's progress",
        parameters: queryParameters(BulkIdQuery.shape),
        responses: { "200": { description: "The bulk: applied, refused, not found, pending.", content: json(ref(apiSchemas, BulkProgressBody)) }, ...readApiRefusals, "404": error("No such bulk in the token's organization, or one the retention deleted (EVENTS_RETENTION after it finished, 90 days by default).") },
      },
    },
    [BULK_ITEMS_PATH]: {
      get: {
        tags: ["reprocess"],
        operationId: "listBulkReprocessItems",
        summary: "A bulk reprocess's tasks and what became of each",
        description: "In the order they are applied; filter by outcome to see, for example, which tasks the guard refused and why. Keyset pagination: pass `nextCursor` back as `cursor`.",
        parameters: queryParameters(BulkItemsQuery.shape),
        responses: { "200": { description: "One page of items.", content: json(ref(apiSchemas, BulkItemsBody)) }, ...readApiRefusals, "404": error("No such bulk in the token's organization.") },
      },
    },
    [BULK_CANCEL_PATH]: {
      post: {
        tags: ["reprocess"],
        operationId: "cancelBulkReprocess",
        summary: "Cancel a running bulk reprocess",
        description: "Once this answers, none of the bulk's pending tasks is reprocessed (a slice being applied at that moment either committed before, and is counted, or is rolled back whole). Cancelling a cancelled bulk answers the same.",
        parameters: queryParameters(BulkIdQuery.shape),
        responses: {
          "200": { description: "Cancelled: the counts as they stand; `pending` will never run.", content: json(ref(apiSchemas, BulkProgressBody)) },
          ...readApiRefusals,
          "404": error("No such bulk in the token's organization."),
          "409": error("The bulk is already done."),
        },
      },
    },
  };
}

function opsPaths(opsServer: object): Record<string, unknown> {
  const opsPath = (operation: Record<string, unknown>) => ({ servers: [opsServer], get: { tags: ["ops"], security: [], ...operation } });
  /** A check that answers 200 or 503 with the same body. */
  const check = (operationId: string, summary: string, schema: z.ZodType, ok: string, notOk: string, retryAfter = false) =>
    opsPath({
      operationId,
      summary,
      responses: {
        "200": { description: ok, content: json(ref(opsSchemas, schema)) },
        "503": { description: notOk, ...(retryAfter ? { headers: { "Retry-After": header("Retry-After") } } : {}), content: json(ref(opsSchemas, schema)) },
      },
    });
  return {
    "/healthz": opsPath({
      operationId: "healthz",
      summary: "Liveness: the process and its event loop answer",
      responses: { "200": { description: "Alive.", content: json(ref(opsSchemas, Health)) } },
    }),
    "/readyz": check("readyz", "Readiness of the worker and the ops listener: Redis and PostgreSQL answer", Readiness, "Ready.", "Not ready: `checks` names what does not answer.", true),
    "/health/sweeps": check("sweepHealth", "Whether sweeps complete (on any replica)", SweepHealth, "Sweeps complete.", "Overdue, held, paused, or unknown: `problems` says each."),
    "/metrics": opsPath({
      operationId: "metrics",
      summary: "Prometheus metrics",
      responses: { "200": { description: "The Prometheus text exposition.", content: { "text/plain": { schema: { type: "string" } } } } },
    }),
    [BOARD_PATH]: opsPath({
      operationId: "bullBoard",
      summary: "Bull Board (the UI, and its own API under this prefix)",
      description: "HTTP Basic authentication with BULL_BOARD_USER / BULL_BOARD_PASSWORD (required unless OPS_HOST is loopback). Every path under this prefix belongs to the board.",
      security: [{ boardBasic: [] }, {}],
      responses: {
        "200": { description: "The board's page.", content: { "text/html": { schema: { type: "string" } } } },
        "401": { description: "Missing or wrong credentials.", headers: { "WWW-Authenticate": header("WWW-Authenticate") } },
        "503": { description: "The board could not be loaded; see the worker's log." },
      },
    }),
    ...consoleOpenApiPaths(opsServer),
  };
}

function components(): Record<string, unknown> {
  return {
    schemas: { ...componentSchemas(apiSchemas), ...componentSchemas(opsSchemas) },
    securitySchemes: {
      bearerAuth: { type: "http", scheme: "bearer", description: "An API token (watchdog tokens create, or API_TOKENS); it reaches its own organization's tasks only." },
      boardBasic: { type: "http", scheme: "basic", description: "BULL_BOARD_USER and BULL_BOARD_PASSWORD." },
    },
    headers: {
      "X-Error": { description: "Why the request was refused, in printable ASCII (other characters as \\uXXXX).", schema: { type: "string" } },
      "X-Job-Id": { description: "The id of the reprocess job on task-reprocess.", schema: { type: "string" } },
      "WWW-Authenticate": { description: "The authentication challenge.", schema: { type: "string" } },
      "Retry-After": { description: "Seconds to wait before sending the request again.", schema: { type: "string" } },
      Location: { description: "Where to follow the bulk: GET …/restartprocessing/bulk?bulkId=….", schema: { type: "string" } },
      "Idempotent-Replayed": { description: "`true` when this answer is the bulk an earlier request with the same Idempotency-Key started.", schema: { type: "string" } },
    },
  };
}
