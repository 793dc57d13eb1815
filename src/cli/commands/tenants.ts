// `watchdog tokens …` and `watchdog webhooks …`: the tenants kept in PostgreSQL (API tokens and
// webhook endpoints per organization). A token or a secret is printed once, by create and rotate,
// on stdout only; list shows fingerprints and dates, never a value. Neither needs Redis or a
// running worker: every replica reads the tables on its next request or relay round.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { z } from "zod";
import { createToken, listTokens, revokeToken, rotateToken } from "../../api/api-tokens-store.js";
import type { Config } from "../../platform/config/settings.js";
import { MAX_WEBHOOK_URL_LENGTH, webhookEndpointsSchema } from "../../outbox/webhook-config.js";
import { createEndpoint, disableEndpoint, listEndpoints, rotateSecret } from "../../outbox/webhook-endpoints-admin.js";
import { findActiveEndpoints } from "../../outbox/webhook-endpoints-store.js";
import { createKeyring, generateWebhookSecret, type SecretKeyring } from "../../outbox/webhook-secret-box.js";
import { endpointLabel, signWith } from "../../outbox/send-webhook.js";
import { redactedUrl } from "../../outbox/endpoint-url.js";
import { checkPostgres } from "../../platform/preflight.js";
import { actorName, operatorText } from "../../sweep/sweep-request.js";
import { CliError } from "../context.js";
import { EXIT } from "../exit-codes.js";
import { table } from "../format.js";
import { MIGRATIONS_DIR } from "../paths.js";
import { parseOptions } from "./pause.js";

async function withClient<T>(config: Config, work: (client: pg.Client) => Promise<T>): Promise<T> {
  // Bounded, and a failure is one line naming DATABASE_URL and the fix, as for `stuck` and `status`.
  await checkPostgres(config.databaseUrl, MIGRATIONS_DIR);
  const client = new pg.Client({ connectionString: config.databaseUrl, connectionTimeoutMillis: config.databaseConnectTimeoutMs, query_timeout: config.databaseStatementTimeoutMs });
  client.on("error", () => undefined); // a lost connection fails the query in flight, which reports it
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);
const print = (value: unknown) => console.log(JSON.stringify(value));

function keyring(config: Config): SecretKeyring {
  if (!config.webhookSecretsKeys || config.webhookSecretsKeys.length === 0) {
    throw new CliError("WEBHOOK_SECRETS_KEY is not set: it seals the webhook secrets kept in the database; make one with `openssl rand -base64 32` and give every replica the same", EXIT.failed);
  }
  return createKeyring(config.webhookSecretsKeys);
}

function required<T>(value: T | undefined, flag: string, hint: string): T {
  if (value === undefined || value === "") throw new CliError(`BadRequest: ${flag} is required (${hint})`, EXIT.usage);
  return value;
}

/**
 * --by, --label and --url land in the lists' tables and the audit columns: printable and bounded,
 * checked as `pause` and `sweep --release` check theirs (exit 2 naming the flag).
 */
const operatorFlags = {
  by: actorName(),
  label: actorName(),
  url: operatorText(MAX_WEBHOOK_URL_LENGTH, "must not be empty").pipe(webhookEndpointsSchema.element.shape.url),
};
function checkFlags<K extends keyof typeof operatorFlags>(given: Partial<Record<K, string>>): Record<K, string> {
  const keys = Object.keys(given).filter((k) => given[k as K] !== undefined) as K[];
  const schema = z.object(Object.fromEntries(keys.map((k) => [k, operatorFlags[k]])) as Pick<typeof operatorFlags, K>);
  return parseOptions(schema, given) as Record<K, string>;
}

/** --by: required, then checked. */
const by = (value: string | undefined, hint: string): string => checkFlags({ by: required(value, "--by", hint) }).by;

// --- tokens -------------------------------------------------------------------------------

export async function createTokenCommand(config: Config, options: { organizationId?: number; label?: string; by?: string }): Promise<void> {
  const organizationId = required(options.organizationId, "--organization-id", "the organization the token acts for");
  const { by, label } = checkFlags({ by: required(options.by, "--by", "who creates it, for the audit trail"), label: options.label });
  const created = await withClient(config, (c) => createToken(c, { organizationId, label, by }));
  print({ id: created.id, organizationId, token: created.token, note: "shown once: store it now; only its SHA-256 is kept" });
}

export async function listTokensCommand(config: Config, options: { organizationId?: number; all: boolean; json: boolean }): Promise<void> {
  const tokens = await withClient(config, (c) => listTokens(c, { all: options.all, ...(options.organizationId ? { organizationId: options.organizationId } : {}) }));
  if (options.json) {
    print(tokens.map((t) => ({ ...t, createdAt: iso(t.createdAt), expiresAt: iso(t.expiresAt), revokedAt: iso(t.revokedAt) })));
    return;
  }
  console.log(
    table(
      ["id", "organization", "fingerprint", "label", "created", "by", "valid until"],
      tokens.map((t) => [t.id, t.organizationId, t.fingerprint, t.label ?? "", iso(t.createdAt)!, t.createdBy, t.revokedAt ? `revoked ${iso(t.revokedAt)} by ${t.revokedBy}` : (iso(t.expiresAt) ?? "until revoked")]),
    ),
  );
}

export async function revokeTokenCommand(config: Config, options: { id?: number; by?: string }): Promise<void> {
  const id = required(options.id, "--id", "the token's id, from `watchdog tokens list`");
  // Checked before connecting, as create's: a bad option is exit 2 whether PostgreSQL answers or not.
  const revokedBy = by(options.by, "who revokes it, for the audit trail");
  const revoked = await withClient(config, (c) => revokeToken(c, { id: String(id), by: revokedBy }));
  if (!revoked) throw new CliError(`NotFound: no valid token has id ${id} (see \`watchdog tokens list --all\`)`, EXIT.notFound);
  print({ revoked: revoked.id, organizationId: revoked.organizationId });
}

export async function rotateTokenCommand(config: Config, options: { id?: number; overlapSeconds: number; by?: string }): Promise<void> {
  const id = required(options.id, "--id", "the token's id, from `watchdog tokens list`");
  const rotatedBy = by(options.by, "who rotates it, for the audit trail");
  const rotated = await withClient(config, (c) => rotateToken(c, { id: String(id), overlapSeconds: options.overlapSeconds, by: rotatedBy }));
  if (!rotated) throw new CliError(`NotFound: no valid token has id ${id} (see \`watchdog tokens list --all\`)`, EXIT.notFound);
  print({ id: rotated.id, organizationId: rotated.organizationId, token: rotated.token, previous: { id: String(id), validUntil: iso(rotated.previousValidUntil) }, note: "shown once: store it now" });
}

// --- webhooks -----------------------------------------------------------------------------

export async function createWebhookCommand(config: Config, options: { organizationId?: number; url?: string; by?: string }): Promise<void> {
  const organizationId = required(options.organizationId, "--organization-id", "whose events the endpoint receives");
  const { url, by } = checkFlags({ url: required(options.url, "--url", "where the events go"), by: required(options.by, "--by", "who creates it, for the audit trail") });
  const ring = keyring(config);
  const secret = generateWebhookSecret();
  const result = await withClient(config, (c) => createEndpoint(c, ring, { organizationId, url, secret, by }));
  if ("existing" in result) {
    throw new CliError(`Conflict: organization ${organizationId} already has an active endpoint (id ${result.existing}); rotate its secret with \`watchdog webhooks rotate\`, or revoke it first`, EXIT.conflict);
  }
  // The URL as `list` shows it: a token in its query string is the operator's already, not printed back.
  print({ id: result.created.id, organizationId, url: redactedUrl(url), secret, note: "shown once: give it to the receiver now; it verifies the webhook-signature header" });
}

export async function listWebhooksCommand(config: Config, options: { organizationId?: number; all: boolean; json: boolean }): Promise<void> {
  const endpoints = await withClient(config, (c) => listEndpoints(c, { all: options.all, ...(options.organizationId ? { organizationId: options.organizationId } : {}) }));
  if (options.json) {
    print(endpoints.map((e) => ({ ...e, createdAt: iso(e.createdAt), disabledAt: iso(e.disabledAt), secrets: e.secrets.map((s) => ({ ...s, createdAt: iso(s.createdAt), expiresAt: iso(s.expiresAt) })) })));
    return;
  }
  console.log(
    table(
      ["id", "organization", "url", "secrets valid", "created", "by", "state"],
      endpoints.map((e) => [e.id, e.organizationId, e.url, e.secrets.map((s) => iso(s.expiresAt) ?? "current").join(", "), iso(e.createdAt)!, e.createdBy, e.disabledAt ? `revoked ${iso(e.disabledAt)} by ${e.disabledBy}` : "active"]),
    ),
  );
}

export async function rotateWebhookCommand(config: Config, options: { organizationId?: number; overlapSeconds: number }): Promise<void> {
  const organizationId = required(options.organizationId, "--organization-id", "whose endpoint");
  const ring = keyring(config);
  const secret = generateWebhookSecret();
  const rotated = await withClient(config, (c) => rotateSecret(c, ring, { organizationId, secret, overlapSeconds: options.overlapSeconds }));
  if (!rotated) throw new CliError(`NotFound: organization ${organizationId} has no active webhook endpoint (see \`watchdog webhooks list\`)`, EXIT.notFound);
  print({ organizationId, secret, previousSecretsValidUntil: iso(rotated.previousValidUntil), note: "shown once; until then every delivery carries one signature per valid secret" });
}

export async function revokeWebhookCommand(config: Config, options: { organizationId?: number; by?: string }): Promise<void> {
  const organizationId = required(options.organizationId, "--organization-id", "whose endpoint");
  const revokedBy = by(options.by, "who revokes it, for the audit trail");
  const revoked = await withClient(config, (c) => disableEndpoint(c, { organizationId, by: revokedBy }));
  if (!revoked) throw new CliError(`NotFound: organization ${organizationId} has no active webhook endpoint (see \`watchdog webhooks list\`)`, EXIT.notFound);
  print({ revoked: revoked.id, organizationId });
}

/**
 * One signed POST of a test message (type `webhook.test`) to the organization's endpoint, signed
 * with every valid secret as a delivery would be. Exit 0 on a 2xx, 1 otherwise, saying what came back.
 */
export async function testSendWebhookCommand(config: Config, options: { organizationId?: number; timeoutMs: number }): Promise<void> {
  const organizationId = required(options.organizationId, "--organization-id", "whose endpoint");
  const ring = keyring(config);
  const [endpoint] = await withClient(config, (c) => findActiveEndpoints(c, ring, [organizationId]));
  if (!endpoint) throw new CliError(`NotFound: organization ${organizationId} has no active webhook endpoint with a valid secret (see \`watchdog webhooks list\`)`, EXIT.notFound);
  const id = `test_${randomBytes(8).toString("hex")}`;
  const now = new Date();
  const body = JSON.stringify({ type: "webhook.test", timestamp: now.toISOString(), data: { organizationId, message: "a test from `watchdog webhooks test-send`" } });
  const signature = endpoint.secrets.map((secret) => signWith(secret, id, Math.floor(now.getTime() / 1000), body)).join(" ");
  const where = endpointLabel(endpoint);
  let status: number;
  try {
    const response = await fetch(endpoint.url, {
      method: "POST",
      redirect: "manual",
      signal: AbortSignal.timeout(options.timeoutMs),
      headers: { "content-type": "application/json", "user-agent": "task-watchdog-webhooks/1", "webhook-id": id, "webhook-timestamp": String(Math.floor(now.getTime() / 1000)), "webhook-signature": signature },
      body,
    });
    status = response.status;
    await response.body?.cancel();
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
    throw new CliError(`${where} did not answer (${cause}); nothing else was sent`, EXIT.failed);
  }
  const ok = status >= 200 && status < 300;
  print({ organizationId, endpoint: where, webhookId: id, signatures: endpoint.secrets.length, status, ok });
  if (!ok) throw new CliError(`${where} answered ${status}; a delivery would count that as failed and retry`, EXIT.failed);
}
