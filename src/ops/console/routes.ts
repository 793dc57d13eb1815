// The operator console (/admin/console) and the ops replay endpoint (/admin/events/*) on the ops
// listener, as plain handlers (input) → { status, body }.
//
// Who: Bull Board's credentials (Basic auth; without them only on a loopback OPS_HOST, which
// start-up enforces). What: read-only unless CONSOLE_ACTIONS_ENABLED. Every action goes through
// src/ops/actions.ts, as the CLI's do, and is audited with the name and reason given.
//
// CSRF: a browser sends Basic credentials with any request to this origin, a forged cross-site
// one included. A form POST is accepted only when (1) it carries the per-session token that the
// console page set in a SameSite=Strict, HttpOnly cookie and wrote into the form (double submit:
// a cross-site page can neither read the cookie nor get it sent), signed by the console (a cookie
// planted from a sibling origin, which cookies do not keep apart by port, is no token of its), and
// (2) its Origin (or, without one, Sec-Fetch-Site) says it came from this origin. The JSON endpoint takes only
// `Content-Type: application/json` (a cross-site form cannot send that; a script would need a
// CORS preflight, which nothing here answers) and the same Origin check.
import { createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import type { Queue } from "bullmq";
import type { Logger } from "pino";
import type { z } from "zod";
import { pauseInputSchema, resumeInputSchema } from "../../sweep/pause.js";
import { statusName } from "../../rules/status.js";
import { basicAuthMatches, secretEquals } from "../../api/credentials.js";
import type { HttpInput, HttpOutput, Route } from "../../api/types.js";
import { listGivenUp, type ReplayDeps } from "../../outbox/replay.js";
import { hostIsLoopback } from "../loopback-request.js";
import { REPLAY_FIELDS, replayInputSchema } from "../../outbox/replay-request.js";
import { ActionError } from "../../platform/operator-actions.js";
import { addsForCaller, QueueUnavailable } from "../../platform/redis.js";
import { RETRY_AFTER_SECONDS } from "../../api/server.js";
import type { SweepJobData } from "../../sweep/sweep-queue.js";
import { formatIssues, joinIssues } from "../../platform/zod-issues.js";
import { parseStrictJson } from "../../platform/strict-json.js";
import { actionReason, pauseAction, releaseAction, releaseInputSchema, replayAction, resumeAction } from "../actions.js";
import { readConsoleState, type ConsoleReadDeps } from "./read-state.js";
import { CONSOLE_PATH, renderConsole, renderMessage } from "./views.js";

export const REPLAY_ENDPOINT = "/admin/events/replay";
export const GIVEN_UP_ENDPOINT = "/admin/events/given-up";
const CSRF_COOKIE = "watchdog_console_csrf";
const REALM = "task-watchdog Bull Board";

export interface ConsoleDeps extends ConsoleReadDeps {
  /** Bull Board's; undefined = none (loopback only). */
  credentials: { user: string; password: string } | undefined;
  actionsEnabled: boolean;
  sweepQueue: Queue<SweepJobData>;
  /** What a replay is checked against and queued on (replay.ts replayDeps). */
  replay: ReplayDeps;
  logger: Logger;
}

const html = (status: number, body: string, headers: Record<string, string> = {}): HttpOutput => ({
  status,
  headers: {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    // Nothing but this page's own inline style; no script at all; never framed (clickjacking).
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    ...headers,
  },
  body,
});

function unauthorized(json: boolean): HttpOutput {
  const headers = { "www-authenticate": `Basic realm="${REALM}", charset="UTF-8"`, "cache-control": "no-store" };
  return json ? { status: 401, headers, body: { error: "authentication required: Bull Board's credentials (BULL_BOARD_USER, BULL_BOARD_PASSWORD)" } } : html(401, renderMessage("Authentication required", "Use Bull Board's user and password (BULL_BOARD_USER, BULL_BOARD_PASSWORD)."), headers);
}

/**
 * The console's form tokens: a random nonce and its HMAC. With credentials, the key is derived from
 * them (PBKDF2, ~30 ms once at start: a token seen is no cheap test of guesses at the password), so
 * every replica takes the others' tokens; without (loopback only), a key of this process's own.
 */
function csrfTokens(credentials: ConsoleDeps["credentials"]) {
  const key = credentials ? pbkdf2Sync(credentials.password, `task-watchdog console csrf\0${credentials.user}`, 100_000, 32, "sha256") : randomBytes(32);
  const mac = (nonce: string) => createHmac("sha256", key).update(nonce).digest("base64url");
  return {
    issue: () => {
      const nonce = randomBytes(32).toString("base64url");
      return `${nonce}.${mac(nonce)}`;
    },
    issued: (token: string) => {
      const parts = /^([A-Za-z0-9_-]{43})\.([A-Za-z0-9_-]{43})$/.exec(token);
      return parts !== null && secretEquals(parts[2]!, mac(parts[1]!));
    },
  };
}

function cookie(headers: IncomingHttpHeaders, name: string): string | undefined {
  for (const part of (headers.cookie ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return v.join("=");
  }
  return undefined;
}

/** Why this request is not from the console's own origin, or null when it is. */
export function crossSiteReason(headers: IncomingHttpHeaders): string | null {
  const origin = headers.origin;
  if (origin !== undefined) {
    let host: string | null = null;
    try {
      host = origin === "null" ? null : new URL(origin).host;
    } catch {
      host = null;
    }
    if (host === null || host !== headers.host) return `Origin ${JSON.stringify(origin)} is not this console's (${headers.host ?? "no Host"})`;
    return null;
  }
  const site = headers["sec-fetch-site"];
  if (site !== undefined && site !== "same-origin" && site !== "none") return `a ${site} request (Sec-Fetch-Site)`;
  return null;
}

/**
 * A form's fields: empty ones left out (an empty input means "not given"); `event` split on spaces
 * and commas. A field the form does not have, or one given twice, is refused: a hand-made POST must
 * not act on the last of two rules, nor drop a misspelt field unnoticed.
 */
function formFields(body: string | undefined, allowed: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null);
  const given = new Map<string, number>();
  for (const [key, raw] of new URLSearchParams(body ?? "")) {
    if (key === "csrf") continue;
    if (!allowed.includes(key)) throw new ActionError("BadRequest", `unknown field ${JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key)}; allowed: ${allowed.join(", ")}`);
    given.set(key, (given.get(key) ?? 0) + 1);
    const value = raw.trim();
    if (value === "") continue;
    if (key === "event") out.event = [...((out.event as string[] | undefined) ?? []), ...value.split(/[\s,]+/).filter(Boolean)];
    else if ((key === "since" || key === "until") && /^\d{4}-\d{2}-\d{2}T[\d:.]+$/.test(value)) out[key] = `${value}Z`; // datetime-local: no zone, labelled UTC
    else out[key] = value;
  }
  for (const [key, times] of given) if (times > 1 && key !== "event") throw new ActionError("BadRequest", `${key} is given ${times} times; give it once`);
  return out;
}

function parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input, { reportInput: true });
  if (!parsed.success) throw new ActionError("BadRequest", joinIssues(formatIssues(parsed.error, { schema })));
  return parsed.data;
}

const STATUS_OF = { BadRequest: 400, NotFound: 404, Conflict: 409 } as const;

export function consoleRoutes(deps: ConsoleDeps): Route[] {
  // Without credentials (a loopback OPS_HOST only), the Host must be a loopback name too (DNS rebinding).
  const authorised = (input: HttpInput) => (deps.credentials ? basicAuthMatches(input.headers, deps.credentials) : hostIsLoopback(input.headers));
  const ruleChoices = deps.rules.map((r) => ({ code: r.status, name: statusName(r.status) }));
  const tokens = csrfTokens(deps.credentials);

  const page = async (input: HttpInput): Promise<HttpOutput> => {
    if (!authorised(input)) return unauthorized(false);
    const existing = cookie(input.headers, CSRF_COOKIE);
    const token = existing && tokens.issued(existing) ? existing : tokens.issue();
    const done = input.query.get("done");
    const state = await readConsoleState(deps);
    return html(200, renderConsole(state, ruleChoices, { csrfToken: token, actionsEnabled: deps.actionsEnabled, done }), existing === token ? {} : { "set-cookie": `${CSRF_COOKIE}=${token}; Path=${CONSOLE_PATH}; HttpOnly; SameSite=Strict` });
  };

  const formAction = (name: string, fields: readonly string[], act: (fields: Record<string, unknown>) => Promise<unknown>) => async (input: HttpInput): Promise<HttpOutput> => {
    if (!authorised(input)) return unauthorized(false);
    if (!deps.actionsEnabled) return html(403, renderMessage("Read-only", "Actions are off in this console: set CONSOLE_ACTIONS_ENABLED=true, or use the watchdog CLI."));
    const crossSite = crossSiteReason(input.headers);
    const text = typeof input.body === "string" ? input.body : "";
    const sent = new URLSearchParams(text).get("csrf") ?? "";
    const expected = cookie(input.headers, CSRF_COOKIE);
    const csrfCheck = !expected ? "no cookie" : !sent ? "missing from form" : !secretEquals(sent, expected) ? "mismatch" : !tokens.issued(sent) ? "not issued by this console" : "ok";
    if (crossSite || csrfCheck !== "ok") {
      deps.logger.warn({ action: name, crossSite, csrfCheck }, "operator console refused a POST (CSRF check)");
      return html(403, renderMessage("Refused", `This request did not come from the console's own page (${crossSite ?? "missing or wrong form token"}). Open the console and submit the form again.`));
    }
    try {
      await act(formFields(text, fields));
      return { status: 303, headers: { location: `${CONSOLE_PATH}?done=${name}#audit`, "cache-control": "no-store" } };
    } catch (error) {
      if (error instanceof ActionError) return html(STATUS_OF[error.kind], renderMessage(`Not done: ${name}`, error.message));
      if (error instanceof QueueUnavailable) return html(503, renderMessage(`Not done: ${name}`, error.message), { "retry-after": String(RETRY_AFTER_SECONDS) });
      throw error;
    }
  };

  const replayEndpoint = async (input: HttpInput): Promise<HttpOutput> => {
    if (!authorised(input)) return unauthorized(true);
    if (!deps.actionsEnabled) return { status: 403, body: { error: "Forbidden: actions are off (CONSOLE_ACTIONS_ENABLED=false); use `watchdog events replay`" } };
    if (!/^application\/json\s*(;|$)/i.test(input.headers["content-type"] ?? "")) return { status: 415, body: { error: "send Content-Type: application/json" } };
    const crossSite = crossSiteReason(input.headers);
    if (crossSite) return { status: 403, body: { error: `Forbidden: ${crossSite}` } };
    const body = parseStrictJson(typeof input.body === "string" ? input.body : "");
    if (!body.ok) return { status: 400, body: { error: `BadRequest: the body is not JSON${body.duplicate ? ` (${body.error})` : ""}; send e.g. {"givenUp": true, "by": "alice", "reason": "endpoint fixed"}` } };
    const json = body.value;
    try {
      const outcome = await replayAction(deps.replay, parse(replayInputSchema, json), "ops-api");
      return { status: 202, body: outcome };
    } catch (error) {
      if (error instanceof ActionError) return { status: STATUS_OF[error.kind], body: { error: error.message } };
      if (error instanceof QueueUnavailable) return { status: 503, headers: { "retry-after": String(RETRY_AFTER_SECONDS), "x-error": error.message }, body: { error: error.message } };
      throw error;
    }
  };

  const givenUp = async (input: HttpInput): Promise<HttpOutput> => {
    if (!authorised(input)) return unauthorized(true);
    return { status: 200, body: await listGivenUp(deps.db, 1000) };
  };

  return [
    { method: "GET", path: CONSOLE_PATH, handler: page },
    { method: "POST", path: `${CONSOLE_PATH}/pause`, body: "text", handler: formAction("pause", ["rule", "for", "reason", "by"], (f) => pauseAction(deps.db, parse(pauseInputSchema(deps.rules), f), "console")) },
    { method: "POST", path: `${CONSOLE_PATH}/resume`, body: "text", handler: formAction("resume", ["rule", "reason", "by"], (f) => resumeAction(deps.db, parse(resumeInputSchema(deps.rules).extend({ reason: actionReason() }), f), "console")) },
    {
      method: "POST",
      path: `${CONSOLE_PATH}/release`,
      body: "text",
      handler: formAction("release", ["rule", "reason", "by"], async (f) => {
        const { rule, ...rest } = f;
        return releaseAction(deps.db, addsForCaller(deps.sweepQueue), parse(releaseInputSchema(deps.rules, "required"), { ...rest, release: rule === undefined ? [] : [rule] }), "console");
      }),
    },
    { method: "POST", path: `${CONSOLE_PATH}/replay`, body: "text", handler: formAction("replay", REPLAY_FIELDS, (f) => replayAction(deps.replay, parse(replayInputSchema, f), "console")) },
    { method: "POST", path: REPLAY_ENDPOINT, body: "text", handler: replayEndpoint },
    { method: "GET", path: GIVEN_UP_ENDPOINT, handler: givenUp },
  ];
}
