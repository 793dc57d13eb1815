// Webhook endpoints per organization, from WEBHOOKS_FILE and/or WEBHOOKS_JSON:
//   [{ "organizationId": 7, "url": "https://hooks.example.com/watchdog", "secret": "whsec_…" }]
// Validated once at start-up; any problem stops it with a ConfigError that names the entry and
// the field and never shows a secret.
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { z } from "zod";
import { ConfigError } from "../platform/config/load-config.js";
import { formatIssues } from "../platform/zod-issues.js";
import { parseStrictJson } from "../platform/strict-json.js";
import { MAX_ID } from "../platform/ids.js";
import { CONTROL_ERROR, hasNoControl } from "../platform/text-safety.js";
import { redactedUrl } from "./endpoint-url.js";

export interface WebhookEndpoint {
  readonly organizationId: number;
  readonly url: string;
  /** `whsec_` + base64 of 24–64 random bytes (the Standard Webhooks format). Never logged. */
  readonly secret: string;
  /**
   * Every secret to sign with, when there are several (an endpoint of the database during a
   * rotation, newest first): one signature each in webhook-signature. Absent: `secret` alone.
   */
  readonly secrets?: readonly string[];
}

const SECRET_PREFIX = "whsec_";

/** Loopback hosts may be plain http (a sidecar, a local receiver); every other endpoint must be https. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  if (isIP(host) === 6) return host === "::1";
  return false;
}

/** The longest endpoint URL taken, from configuration or the CLI's --url. */
export const MAX_WEBHOOK_URL_LENGTH = 2048;

const urlSchema = z.string({ error: "must be a URL such as https://hooks.example.com/watchdog" }).superRefine((raw, ctx) => {
  // Checked on the text: a URL parser drops tabs and newlines silently, the endpoint lists and logs would not.
  if (raw.length > MAX_WEBHOOK_URL_LENGTH) return void ctx.addIssue({ code: "custom", message: `must be at most ${MAX_WEBHOOK_URL_LENGTH} characters` });
  if (!hasNoControl(raw)) return void ctx.addIssue({ code: "custom", message: CONTROL_ERROR });
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    ctx.addIssue({ code: "custom", message: "must be a URL such as https://hooks.example.com/watchdog", input: redactedUrl(raw) });
    return;
  }
  // A message quotes what it received: never the credentials it refuses, nor a query string or
  // fragment, where a token may be (WEBHOOKS_JSON is a secret; logs keep a CLI's stderr).
  const credentials = url.username !== "" || url.password !== "";
  const shown = credentials ? `${url.protocol}//(credentials hidden)@${url.host}${url.pathname}` : redactedUrl(raw);
  if (credentials) ctx.addIssue({ code: "custom", message: "must not carry credentials (the signature authenticates the sender)", input: shown });
  if (url.protocol === "https:") return;
  if (url.protocol === "http:" && isLoopbackHost(url.hostname)) return;
  ctx.addIssue({ code: "custom", message: "must be https (plain http only for a loopback host such as 127.0.0.1)", input: shown });
});

const secretSchema = z.string({ error: `must be a string "${SECRET_PREFIX}<base64>"` }).refine(
  (raw) => {
    if (!raw.startsWith(SECRET_PREFIX)) return false;
    const body = raw.slice(SECRET_PREFIX.length);
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) return false;
    const bytes = Buffer.from(body, "base64").length;
    return bytes >= 24 && bytes <= 64;
  },
  { message: `must be "${SECRET_PREFIX}" followed by the base64 of 24 to 64 random bytes (e.g. ${SECRET_PREFIX}$(openssl rand -base64 32))` },
);

export const webhookEndpointsSchema = z.array(
  z.strictObject({
    organizationId: z.number({ error: "must be an organization id (a whole number)" }).int().min(1).max(MAX_ID),
    url: urlSchema,
    secret: secretSchema,
  }),
  { error: "must be a JSON array of { organizationId, url, secret }" },
);

/** Whether a value of the configuration (parsed JSON) holds a whsec_ secret anywhere in it. */
const holdsSecret = (value: unknown): boolean => (JSON.stringify(value) ?? "").includes(SECRET_PREFIX);

/** The endpoints of WEBHOOKS_FILE then WEBHOOKS_JSON (one endpoint per organization), or []. */
export function loadWebhookEndpoints(source: { webhooksFile?: string | undefined; webhooksJson?: string | undefined }): WebhookEndpoint[] {
  const problems: string[] = [];
  const all: WebhookEndpoint[] = [];
  const take = (text: string, where: string) => {
    const json = parseStrictJson(text);
    if (!json.ok) {
      // JSON.parse's message quotes the text, which holds secrets; a duplicate key's names only the key.
      problems.push(`${where} is not valid JSON${json.duplicate ? `: ${json.error}` : ""}; expected [{ "organizationId": 7, "url": "https://…", "secret": "whsec_…" }]`);
      return;
    }
    const parsed = json.value;
    const result = webhookEndpointsSchema.safeParse(parsed, { reportInput: true });
    if (!result.success) {
      // A secret is never shown back, not even a wrong one, nor one put in another field (url and
      // secret swapped, a bare list of secrets): any value that holds a whsec_ is not quoted.
      for (const issue of result.error.issues) {
        if ("input" in issue && (issue.path.at(-1) === "secret" || holdsSecret(issue.input))) delete (issue as { input?: unknown }).input;
      }
      problems.push(...formatIssues(result.error, { schema: webhookEndpointsSchema, label: where }).map((m) => (m.startsWith(where) ? m : `${where} ${m}`)));
      return;
    }
    all.push(...result.data);
  };
  if (source.webhooksFile) {
    let text: string | undefined;
    try {
      text = readFileSync(source.webhooksFile, "utf8");
    } catch (error) {
      problems.push(`WEBHOOKS_FILE=${JSON.stringify(source.webhooksFile)} cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"}); point it at a JSON array of webhook endpoints`);
    }
    if (text !== undefined) take(text, `WEBHOOKS_FILE (${source.webhooksFile})`);
  }
  if (source.webhooksJson) take(source.webhooksJson, "WEBHOOKS_JSON");
  const seen = new Set<number>();
  for (const e of all) {
    if (seen.has(e.organizationId)) problems.push(`webhooks: organization ${e.organizationId} has more than one endpoint; give each organization one`);
    seen.add(e.organizationId);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return all;
}

/**
 * Webhooks may be sent: there are endpoints in WEBHOOKS_FILE / WEBHOOKS_JSON, or WEBHOOK_SECRETS_KEY
 * is set, so endpoints may be kept in the database (`watchdog webhooks create`, read without a
 * restart). The webhook replays' queue and worker exist then.
 */
export function webhooksPossible(source: { webhooksFile?: string | undefined; webhooksJson?: string | undefined; webhookSecretsKeys?: readonly Buffer[] | undefined }): boolean {
  return (source.webhookSecretsKeys?.length ?? 0) > 0 || loadWebhookEndpoints(source).length > 0;
}
