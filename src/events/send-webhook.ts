// One signed POST of one event to one endpoint, following Standard Webhooks: headers webhook-id
// (the event's idempotency key), webhook-timestamp (seconds, this attempt's time) and
// webhook-signature, made by the kept `standardwebhooks` package (HMAC-SHA256 over
// "id.timestamp.body" with the endpoint's whsec_ secret). 2xx = delivered; anything else, a
// timeout or a connection error = failed, with a reason that names neither secret nor body.
import { Webhook } from "standardwebhooks";
import type { WebhookEndpoint } from "./webhook-config.js";
import { webhookBody, type TaskEventMessage } from "./message.js";

export type SendOutcome = { ok: true; status: number } | { ok: false; reason: string };

const USER_AGENT = "task-watchdog-webhooks/1";

export function signer(endpoint: WebhookEndpoint): (message: TaskEventMessage, now: Date) => { body: string; headers: Record<string, string> } {
  const webhook = new Webhook(endpoint.secret);
  return (message, now) => {
    const body = webhookBody(message);
    return {
      body,
      headers: {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message.id,
        "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
        "webhook-signature": webhook.sign(message.id, now, body),
      },
    };
  };
}

/** Where a request went, for logs and errors: origin and path, never a query string. */
export function endpointLabel(endpoint: WebhookEndpoint): string {
  const url = new URL(endpoint.url);
  return `${url.origin}${url.pathname}`;
}

export async function sendWebhook(endpoint: WebhookEndpoint, sign: ReturnType<typeof signer>, message: TaskEventMessage, timeoutMs: number): Promise<SendOutcome> {
  const { body, headers } = sign(message, new Date());
  try {
    // Redirects are not followed: a 3xx could lead off https or to another host.
    const response = await fetch(endpoint.url, { method: "POST", headers, body, redirect: "manual", signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel().catch(() => undefined);
    if (response.status >= 200 && response.status < 300) return { ok: true, status: response.status };
    return { ok: false, reason: `${endpointLabel(endpoint)} answered ${response.status}` };
  } catch (error) {
    const e = error as Error & { cause?: { code?: string; message?: string } };
    const why = e.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
    return { ok: false, reason: `${endpointLabel(endpoint)}: ${why}` };
  }
}
