// The webhook endpoints of the database (`watchdog webhooks …`) beside those of WEBHOOKS_FILE /
// WEBHOOKS_JSON, as the outbox takes them at start: one read (findActiveEndpoints), whatever the
// number of organizations. A replica reads them when it starts: after `webhooks create`, `rotate`
// or `revoke`, restart the replicas (a rolling restart) for them to deliver accordingly.
import pg from "pg";
import { ConfigError } from "../platform/config/load-config.js";
import type { Config } from "../platform/config/settings.js";
import { findActiveEndpoints } from "./webhook-endpoints-store.js";
import { createKeyring } from "./webhook-secret-box.js";
import type { WebhookEndpoint } from "./webhook-config.js";

export async function withDatabaseEndpoints(config: Config, fromEnvironment: readonly WebhookEndpoint[]): Promise<WebhookEndpoint[]> {
  const client = new pg.Client({ connectionString: config.databaseUrl, connectionTimeoutMillis: config.databaseConnectTimeoutMs, query_timeout: config.databaseStatementTimeoutMs });
  client.on("error", () => undefined); // a lost connection fails the query in flight, which reports it
  await client.connect();
  try {
    if (!config.webhookSecretsKeys || config.webhookSecretsKeys.length === 0) {
      const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM webhook_endpoints WHERE disabled_at IS NULL`);
      if (rows[0]!.n > 0) {
        throw new ConfigError([`WEBHOOK_SECRETS_KEY is not set, and the database holds ${rows[0]!.n} active webhook endpoint(s) whose secrets it seals: set it (the same key \`watchdog webhooks create\` used)`]);
      }
      return [...fromEnvironment];
    }
    const stored = await findActiveEndpoints(client, createKeyring(config.webhookSecretsKeys));
    const configured = new Set(fromEnvironment.map((e) => e.organizationId));
    const both = stored.filter((e) => configured.has(e.organizationId)).map((e) => e.organizationId);
    if (both.length > 0) {
      throw new ConfigError([`webhooks: organization(s) ${both.slice(0, 5).join(", ")}${both.length > 5 ? ", …" : ""} have an endpoint both in WEBHOOKS_FILE/WEBHOOKS_JSON and in the database; keep one (\`watchdog webhooks revoke\`, or remove the entry)`]);
    }
    return [...fromEnvironment, ...stored.map((e) => ({ organizationId: e.organizationId, url: e.url, secret: e.secrets[0]!, secrets: e.secrets }))];
  } finally {
    await client.end().catch(() => undefined);
  }
}
