// The OpenAPI description of the operator console's routes and the ops replay endpoint
// (src/ops/console/routes.ts), for src/api/openapi/document.ts's ops paths.
const header = (name: string) => ({ $ref: `#/components/headers/${name}` });

/** The operator console's and replay endpoint's operations: Bull Board's Basic credentials (none only on a loopback OPS_HOST). */
const boardAuth = [{ boardBasic: [] }, {}];
const unauthorised = { "401": { description: "Missing or wrong credentials (Bull Board's).", headers: { "WWW-Authenticate": header("WWW-Authenticate") } } };
const jsonError = { content: { "application/json": { schema: { type: "object", properties: { error: { type: "string" } }, required: ["error"] } } } };
const consoleForm = (opsServer: object, operationId: string, summary: string, fields: Record<string, string>, required: string[]) => ({
  servers: [opsServer],
  post: {
    tags: ["ops"],
    operationId,
    summary,
    description: "A form of the operator console (docs/operations.md). Needs CONSOLE_ACTIONS_ENABLED=true, the session's token (`csrf`, from the console page and its cookie) and a same-origin Origin; audited in operator_actions with `by` and `reason`.",
    security: boardAuth,
    requestBody: {
      required: true,
      content: {
        "application/x-www-form-urlencoded": {
          schema: { type: "object", properties: { csrf: { type: "string" }, by: { type: "string" }, reason: { type: "string" }, ...Object.fromEntries(Object.entries(fields).map(([k, d]) => [k, { type: "string", description: d }])) }, required: ["csrf", "by", ...required] },
        },
      },
    },
    responses: {
      "303": { description: "Done: back to the console (`?done=…#audit`)." },
      "400": { description: "A bad field; the page names it. Nothing was done.", content: { "text/html": { schema: { type: "string" } } } },
      ...unauthorised,
      "403": { description: "Actions are off, or the request did not come from the console's own page (CSRF). Nothing was done.", content: { "text/html": { schema: { type: "string" } } } },
      "404": { description: "Nothing to act on (nothing paused, no such event).", content: { "text/html": { schema: { type: "string" } } } },
    },
  },
});
const replaySelection = {
  type: "object",
  description: "One selection: `event`, or `organization` with `since` and `until`, or `givenUp` (optionally with `organization`); always `by` and `reason`.",
  properties: {
    event: { oneOf: [{ type: "string" }, { type: "array", items: { type: "string" }, maxItems: 10000 }], description: "Event ids such as evt_42." },
    organization: { type: "integer", minimum: 1 },
    since: { type: "string", format: "date-time" },
    until: { type: "string", format: "date-time" },
    givenUp: { type: "boolean" },
    by: { type: "string", maxLength: 200 },
    reason: { type: "string", maxLength: 500 },
  },
  required: ["by", "reason"],
};


export function consoleOpenApiPaths(opsServer: object): Record<string, unknown> {
  const opsPath = (operation: Record<string, unknown>) => ({ servers: [opsServer], get: { tags: ["ops"], security: [], ...operation } });
  return {
    "/admin/console": opsPath({
      operationId: "operatorConsole",
      summary: "The operator console (HTML): rules, holds, pauses, sweeps, escalations, outbox, given-up events, the audit trail",
      security: boardAuth,
      parameters: [{ name: "done", in: "query", required: false, schema: { type: "string", enum: ["pause", "resume", "release", "replay"] }, description: "The action just done (the redirect after a form)." }],
      responses: { "200": { description: "The page; sets the session's CSRF cookie.", content: { "text/html": { schema: { type: "string" } } } }, ...unauthorised },
    }),
    "/admin/console/pause": consoleForm(opsServer, "consolePause", "Pause every rule or one", { rule: "A status name (empty: every rule).", for: "An ISO-8601 duration (empty: until resumed)." }, ["reason"]),
    "/admin/console/resume": consoleForm(opsServer, "consoleResume", "Resume one rule's pause or every pause", { rule: "A status name (empty: every pause)." }, ["reason"]),
    "/admin/console/release": consoleForm(opsServer, "consoleRelease", "Release a held status for one sweep", { rule: "The held status's name." }, ["rule", "reason"]),
    "/admin/console/replay": consoleForm(
      opsServer,
      "consoleReplay",
      "Replay webhook events",
      { event: "Event ids, separated by spaces or commas.", organization: "An organization id.", since: "UTC time.", until: "UTC time.", givenUp: "`true`: every given-up event." },
      ["reason"],
    ),
    "/admin/events/given-up": opsPath({
      operationId: "listGivenUpEvents",
      summary: "The given-up webhook events no replay has delivered yet",
      security: boardAuth,
      responses: { "200": { description: "`{ total, events: [{ eventId, organizationId, givenUpAt, attempts, lastError, replayPending }] }`.", content: { "application/json": { schema: { type: "object" } } } }, ...unauthorised },
    }),
    "/admin/events/replay": {
      servers: [opsServer],
      post: {
        tags: ["ops"],
        operationId: "replayEvents",
        summary: "Replay webhook events (as `watchdog events replay`)",
        description: "Each event is sent again with its original webhook-id and a fresh signature by a job `replay-<id>` on task-watchdog-webhook-replays; audited. Needs CONSOLE_ACTIONS_ENABLED=true.",
        security: boardAuth,
        requestBody: { required: true, content: { "application/json": { schema: replaySelection } } },
        responses: {
          "202": { description: "Queued.", content: { "application/json": { schema: { type: "object", properties: { replayId: { type: "string" }, jobId: { type: "string" }, events: { type: "integer" }, alreadyPending: { type: "integer" }, organizationIds: { type: "array", items: { type: "integer" } } } } } } },
          "400": { description: "`BadRequest: …`: a bad selection, an organization without an endpoint, more than 10,000 events.", ...jsonError },
          ...unauthorised,
          "403": { description: "Actions are off, or another Origin.", ...jsonError },
          "404": { description: "`NotFound: …`: an unknown event id, nothing given up.", ...jsonError },
          "415": { description: "Not `Content-Type: application/json`.", ...jsonError },
        },
      },
    },
  };
}
