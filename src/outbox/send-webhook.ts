// One signed POST of one event to one endpoint, following Standard Webhooks: headers webhook-id
// (the event's idempotency key), webhook-timestamp (seconds, this attempt's time) and
// webhook-signature ("v1," + base64 HMAC-SHA256 over "id.timestamp.body" with the base64 key of
// the endpoint's whsec_ secret). 2xx = delivered; anything else, a timeout or a connection error =
// failed, with a reason that names neither secret nor body.
//
// The signature is computed with node:crypto, not the `standardwebhooks` package's pure-JS SHA-256:
// the same bytes at a quarter of the CPU (7.7 µs vs 2.1 µs per event, measured), and the scheme is
// the three lines below. Every test receiver verifies with `standardwebhooks` itself
// (test/support/webhook-receiver.ts), so the two cannot drift apart unnoticed.
import { createHmac } from "node:crypto";
import type { Agent } from "undici";
import type { WebhookEndpoint } from "./webhook-config.js";
import { webhookBody, type TaskEventMessage } from "./message.js";
import { urlLabel } from "./endpoint-url.js";

export type SendOutcome = { ok: true; status: number } | { ok: false; reason: string };

const USER_AGENT = "task-watchdog-webhooks/1";
const SECRET_PREFIX = "whsec_";

/** The Standard Webhooks signature of one message with one whsec_ secret: "v1,<base64>". */
export function signWith(secret: string, id: string, timestampSeconds: number, body: string): string {
  return `v1,${createHmac("sha256", signingKey(secret)).update(`${id}.${timestampSeconds}.${body}`).digest("base64")}`;
}

const keys = new Map<string, Buffer>();
function signingKey(secret: string): Buffer {
  let key = keys.get(secret);
  if (!key) {
    key = Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, "base64");
    if (key.length === 0) throw new Error("a webhook secret decodes to no bytes");
    if (keys.size >= 10_000) keys.clear(); // bounded: endpoints come and go over a long run
    keys.set(secret, key);
  }
  return key;
}

export function signer(endpoint: Pick<WebhookEndpoint, "secret" | "secrets">): (message: TaskEventMessage, now: Date) => { body: string; headers: Record<string, string> } {
  // Several secrets during a rotation: one signature each, space-separated; the receiver needs one to match.
  const secrets = endpoint.secrets ?? [endpoint.secret];
  for (const secret of secrets) signingKey(secret); // an unusable secret fails here, when the endpoint is loaded
  return (message, now) => {
    const body = webhookBody(message);
    const timestamp = Math.floor(now.getTime() / 1000);
    return {
      body,
      headers: {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message.id,
        "webhook-timestamp": String(timestamp),
        "webhook-signature": secrets.map((secret) => signWith(secret, message.id, timestamp, body)).join(" "),
      },
    };
  };
}

/** Where a request went, for logs and errors: origin and path, never a query string. */
export function endpointLabel(endpoint: Pick<WebhookEndpoint, "url">): string {
  return targetOf(endpoint.url).label;
}

// undici rather than node:http or fetch: measured to a loopback receiver with 64 requests in flight,
// undici's dispatcher sends twice the requests per second of node:http at half the CPU per request
// (24 vs 48 µs), and fetch was ~5× slower than node:http on a loaded machine.
// Redirects are not followed (the dispatcher never does): a 3xx could lead off https or to another host.

/** Where requests to one endpoint URL go, parsed once: the origin (the pool), the path with its query, and the label (no query). */
interface Target {
  origin: string;
  path: string;
  label: string;
}
const targets = new Map<string, Target>();
function targetOf(url: string): Target {
  let target = targets.get(url);
  if (!target) {
    const parsed = new URL(url);
    target = { origin: parsed.origin, path: `${parsed.pathname}${parsed.search}`, label: urlLabel(parsed) };
    if (targets.size >= 10_000) targets.clear();
    targets.set(url, target);
  }
  return target;
}

export interface WebhookSender {
  /** One signed POST; never throws: a failure is an outcome with its reason. */
  send(endpoint: Pick<WebhookEndpoint, "url">, sign: ReturnType<typeof signer>, message: TaskEventMessage, timeoutMs: number): Promise<SendOutcome>;
  /** Lets the requests in flight finish (each bounded by its timeout) and closes the kept connections. */
  close(): Promise<void>;
}

/**
 * The connections webhooks go out on, kept and reused (keep-alive), up to `connectionsPerOrigin` to one
 * origin: several organizations' endpoints often share one host (a SaaS receiver), and a smaller pool
 * would cap the requests in flight below what WEBHOOK_CONCURRENCY × WEBHOOK_ENDPOINT_CONCURRENCY allow.
 * undici is loaded on the first request: a deployment without webhooks never pays its memory (~5 MB resident).
 */
export function createWebhookSender(connectionsPerOrigin: number): WebhookSender {
  let dispatcher: Promise<Agent> | undefined;
  const load = (): Promise<Agent> => (dispatcher ??= import("undici").then(({ Agent }) => new Agent({ connections: connectionsPerOrigin, pipelining: 1 })));
  return {
    async send(endpoint, sign, message, timeoutMs) {
      const { body, headers } = sign(message, new Date());
      const target = targetOf(endpoint.url);
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), timeoutMs);
      try {
        const response = await (await load()).request({ origin: target.origin, path: target.path, method: "POST", headers, body, signal: abort.signal });
        await response.body.dump(); // the body is not read, only drained so the connection is reused
        const status = response.statusCode;
        return status >= 200 && status < 300 ? { ok: true, status } : { ok: false, reason: `${target.label} answered ${status}` };
      } catch (error) {
        if (abort.signal.aborted) return { ok: false, reason: `${target.label}: no answer within ${timeoutMs} ms` };
        return { ok: false, reason: `${target.label}: ${connectionError(error)}` };
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      if (dispatcher) await (await dispatcher).close();
    },
  };
}

/** A short cause: the system error code (ECONNREFUSED, ECONNRESET, …) where there is one, else undici's. */
function connectionError(error: unknown): string {
  const e = error as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  return e?.cause?.code ?? e?.code ?? e?.message ?? String(error);
}
