// The webhook endpoints kept in PostgreSQL (tables webhook_endpoints and webhook_secrets,
// prisma/migrations/20261204120000_tenants), as the relay reads them. One statement:
//   inputs   organizationIds (optional: all active endpoints when omitted)
//   reads    active endpoints (disabled_at IS NULL) and their unexpired secrets, by the database clock
//   locks    nothing (a plain snapshot read)
//   returns  one entry per endpoint, its secrets opened with the keyring, newest first; apart, those
//            with a secret the keyring cannot open (readActiveEndpoints), or a throw (findActiveEndpoints)
// Cost: one index scan per call; nothing per request or per event; an AES-GCM open per secret
// not opened by the read before (`opened`). The shape of the result is stable: other features build on it.
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

/** An endpoint whose secrets could not all be opened: which organization, and why (names the key, never the secret). */
export interface UnreadableEndpoint {
  readonly organizationId: number;
  readonly url: string;
  readonly error: Error;
}

/**
 * The secrets a read opened, by the row they came from (organization, key id, sealed text: a new seal
 * is a new text), for the next read, which opens only rows it has not seen. An AES-GCM open costs
 * ~8 µs on the event loop: every WEBHOOK_ENDPOINTS_REFRESH, 10,000 unchanged endpoints held it ~80 ms.
 * Holds what the signers hold already; only the last read's rows are kept.
 */
export type OpenedSecrets = ReadonlyMap<string, string>;

/**
 * The active endpoints (of `organizationIds`, or all), each with its valid secrets, and apart from
 * them those with a secret the keyring cannot open (sealed with a key it does not hold, or altered):
 * one organization's unreadable secret leaves every other organization's endpoint readable. An
 * endpoint whose secrets have all expired is left out (it could not sign). `opened`: the last read's,
 * by the same keys; the result's is this read's.
 */
export async function readActiveEndpoints(
  db: Queryable,
  keyring: SecretKeyring,
  organizationIds?: readonly number[],
  opened: OpenedSecrets = new Map(),
): Promise<{ endpoints: StoredWebhookEndpoint[]; unreadable: UnreadableEndpoint[]; opened: OpenedSecrets }> {
  const { rows } = await db.query<{ organization_id: number; url: string; key_id: string; sealed_secret: string }>(SQL, [organizationIds ? [...organizationIds] : null]);
  const endpoints = new Map<number, { organizationId: number; url: string; secrets: string[] }>();
  const unreadable = new Map<number, UnreadableEndpoint>();
  const openedNow = new Map<string, string>();
  for (const row of rows) {
    if (unreadable.has(row.organization_id)) continue;
    let entry = endpoints.get(row.organization_id);
    if (!entry) endpoints.set(row.organization_id, (entry = { organizationId: row.organization_id, url: row.url, secrets: [] }));
    const at = `${row.organization_id} ${row.key_id} ${row.sealed_secret}`;
    try {
      const secret = opened.get(at) ?? keyring.open(row.key_id, row.sealed_secret, row.organization_id);
      openedNow.set(at, secret);
      entry.secrets.push(secret);
    } catch (error) {
      endpoints.delete(row.organization_id);
      unreadable.set(row.organization_id, { organizationId: row.organization_id, url: row.url, error: error as Error });
    }
  }
  return { endpoints: [...endpoints.values()], unreadable: [...unreadable.values()], opened: openedNow };
}

/**
 * The active endpoints, as readActiveEndpoints, for the callers that must have them all (the
 * worker's start, the CLI): a secret the keyring cannot open throws its WebhookSecretsKeyError,
 * naming the organization and the key.
 */
export async function findActiveEndpoints(db: Queryable, keyring: SecretKeyring, organizationIds?: readonly number[]): Promise<StoredWebhookEndpoint[]> {
  const { endpoints, unreadable } = await readActiveEndpoints(db, keyring, organizationIds);
  if (unreadable.length > 0) throw unreadable[0]!.error;
  return endpoints;
}

const ORGANIZATIONS_SQL = `
  SELECT DISTINCT e.organization_id
  FROM webhook_endpoints e
  JOIN webhook_secrets s ON s.endpoint_id = e.id
  WHERE e.disabled_at IS NULL AND (s.expires_at IS NULL OR s.expires_at > now())`;

/** The organizations with an active endpoint that has an unexpired secret: no secret is opened. */
export async function findOrganizationsWithEndpoint(db: Queryable): Promise<number[]> {
  const { rows } = await db.query<{ organization_id: number }>(ORGANIZATIONS_SQL);
  return rows.map((r) => r.organization_id);
}
