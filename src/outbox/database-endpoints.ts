// The webhook endpoints of the database (`watchdog webhooks …`) beside those of WEBHOOKS_FILE /
// WEBHOOKS_JSON, checked at start: one read, whatever the number of organizations. The outbox then
// keeps them current by itself (endpoint-directory.ts: read again every WEBHOOK_ENDPOINTS_REFRESH,
// from the secrets this read opened), so `webhooks create`, `rotate` and `revoke` need no restart.
import pg from "pg";
import { ConfigError } from "../platform/config/load-config.js";
import type { Config } from "../platform/config/settings.js";
import { readActiveEndpoints, type OpenedSecrets } from "./webhook-endpoints-store.js";
import { createKeyring } from "./webhook-secret-box.js";
import type { WebhookEndpoint } from "./webhook-config.js";

/**
 * Refuses a start whose database endpoints cannot be used: active ones without WEBHOOK_SECRETS_KEY, a
 * secret the key cannot open, an organization also in WEBHOOKS_FILE / WEBHOOKS_JSON. Out: the secrets
 * it opened, the endpoint directory's first read's (it opens none of them again).
 */
export async function checkDatabaseEndpoints(config: Config, fromEnvironment: readonly WebhookEndpoint[]): Promise<OpenedSecrets> {
  const client = new pg.Client({ connectionString: config.databaseUrl, connectionTimeoutMillis: config.databaseConnectTimeoutMs, query_timeout: config.databaseStatementTimeoutMs });
  client.on("error", () => undefined); // a lost connection fails the query in flight, which reports it
  await client.connect();
  try {
    if (!config.webhookSecretsKeys || config.webhookSecretsKeys.length === 0) {
      const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM webhook_endpoints WHERE disabled_at IS NULL`);
      if (rows[0]!.n > 0) {
        throw new ConfigError([`WEBHOOK_SECRETS_KEY is not set, and the database holds ${rows[0]!.n} active webhook endpoint(s) whose secrets it seals: set it (the same key \`watchdog webhooks create\` used)`]);
      }
      return new Map();
    }
    const { endpoints: stored, unreadable, opened } = await readActiveEndpoints(client, createKeyring(config.webhookSecretsKeys));
    if (unreadable.length > 0) throw unreadable[0]!.error;
    const configured = new Set(fromEnvironment.map((e) => e.organizationId));
    const both = stored.filter((e) => configured.has(e.organizationId)).map((e) => e.organizationId);
    if (both.length > 0) {
      throw new ConfigError([`webhooks: organization(s) ${both.slice(0, 5).join(", ")}${both.length > 5 ? ", …" : ""} have an endpoint both in WEBHOOKS_FILE/WEBHOOKS_JSON and in the database; keep one (\`watchdog webhooks revoke\`, or remove the entry)`]);
    }
    return opened;
  } finally {
    await client.end().catch(() => undefined);
  }
}
