// The webhook endpoints kept in PostgreSQL (tables webhook_endpoints and webhook_secrets,
// prisma/migrations/20261204120000_tenants), as the relay reads them. One statement:
//   inputs   organizationIds (optional: all active endpoints when omitted)
//   reads    active endpoints (disabled_at IS NULL) and their unexpired secrets, by the database clock
//   locks    nothing (a plain snapshot read)
//   returns  one entry per endpoint, its secrets opened with the keyring, newest first
// Cost: one index scan per call; nothing per request or per event. The shape of the result is
// stable: other features build on it.
import type pg from "pg";
import type { SecretKeyring } from "./webhook-secret-box.js";

export interface StoredWebhookEndpoint {
  readonly organizationId: number;
  readonly url: string;
  /** `whsec_…` secrets to sign with, newest first: two during a rotation (one signature each). Never log them. */
  readonly secrets: readonly string[];
}

/** A pg Pool, PoolClient or Client. */
export type Queryable = Pick<pg.ClientBase, "query">;

const SQL = `
  SELECT e.organization_id, e.url, s.key_id, s.sealed_secret
  FROM webhook_endpoints e
  JOIN webhook_secrets s ON s.endpoint_id = e.id
  WHERE e.disabled_at IS NULL
    AND (s.expires_at IS NULL OR s.expires_at > now())
    AND ($1::int[] IS NULL OR e.organization_id = ANY($1::int[]))
  ORDER BY e.organization_id, s.created_at DESC, s.id DESC`;

/**
 * The active endpoints (of `organizationIds`, or all), each with its valid secrets. An endpoint
 * whose secrets have all expired is left out (it could not sign). A secret sealed with a key the
 * keyring does not hold throws WebhookSecretsKeyError, naming the organization and the key.
 */
export async function findActiveEndpoints(db: Queryable, keyring: SecretKeyring, organizationIds?: readonly number[]): Promise<StoredWebhookEndpoint[]> {
  const { rows } = await db.query<{ organization_id: number; url: string; key_id: string; sealed_secret: string }>(SQL, [organizationIds ? [...organizationIds] : null]);
  const endpoints = new Map<number, { organizationId: number; url: string; secrets: string[] }>();
  for (const row of rows) {
    let entry = endpoints.get(row.organization_id);
    if (!entry) endpoints.set(row.organization_id, (entry = { organizationId: row.organization_id, url: row.url, secrets: [] }));
    entry.secrets.push(keyring.open(row.key_id, row.sealed_secret, row.organization_id));
  }
  return [...endpoints.values()];
}
