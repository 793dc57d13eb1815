// Managing the webhook endpoints kept in PostgreSQL (`watchdog webhooks …`). Each change is one
// transaction; times come from the database clock. A secret is returned once, by create and
// rotate, and never read back by list; nor is a URL's query string or fragment (it may carry a token).
import type pg from "pg";
import type { SecretKeyring } from "./webhook-secret-box.js";
import { ensureTargets, webhookTarget } from "./sql/targets.js";
import { redactedUrl } from "./endpoint-url.js";

type Client = Pick<pg.ClientBase, "query">;

export interface EndpointSummary {
  id: string;
  organizationId: number;
  /** Origin and path; a query string or fragment only marked (redactedUrl). */
  url: string;
  createdBy: string;
  createdAt: Date;
  disabledAt: Date | null;
  disabledBy: string | null;
  /** The secrets, without their value: when each stops being valid (null: until rotated) and the key that sealed it. */
  secrets: { id: string; createdAt: Date; expiresAt: Date | null; keyId: string }[];
}

async function inTransaction<T>(client: Client, work: () => Promise<T>): Promise<T> {
  await client.query("BEGIN");
  try {
    const result = await work();
    await client.query("COMMIT");
    return result;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
}

async function addSecret(client: Client, keyring: SecretKeyring, endpointId: string, organizationId: number, secret: string): Promise<void> {
  const { keyId, sealed } = keyring.seal(secret, organizationId);
  await client.query(`INSERT INTO webhook_secrets (endpoint_id, key_id, sealed_secret) VALUES ($1, $2, $3)`, [endpointId, keyId, sealed]);
}

/** Creates the organization's endpoint with `secret`; `{ existing }` when it already has an active one (nothing changed). */
export async function createEndpoint(
  client: Client,
  keyring: SecretKeyring,
  input: { organizationId: number; url: string; secret: string; by: string },
): Promise<{ created: { id: string; organizationId: number; url: string } } | { existing: string }> {
  return inTransaction(client, async () => {
    const { rows } = await client.query<{ id: string }>(
      `INSERT INTO webhook_endpoints (organization_id, url, created_by) VALUES ($1, $2, $3)
       ON CONFLICT (organization_id) WHERE disabled_at IS NULL DO NOTHING RETURNING id::text`,
      [input.organizationId, input.url, input.by],
    );
    if (!rows[0]) {
      const { rows: existing } = await client.query<{ id: string }>(`SELECT id::text FROM webhook_endpoints WHERE organization_id = $1 AND disabled_at IS NULL`, [input.organizationId]);
      return { existing: existing[0]?.id ?? "?" };
    }
    await addSecret(client, keyring, rows[0].id, input.organizationId, input.secret);
    // Its delivery position, from now: the events of a time without an endpoint (a revoke dropped the
    // last one's position) are not sent to it; a position already there is kept (an endpoint of
    // WEBHOOKS_FILE / WEBHOOKS_JSON moving to the database loses nothing).
    await ensureTargets(client, [{ target: webhookTarget(input.organizationId), organizationId: input.organizationId }]);
    return { created: { id: rows[0].id, organizationId: input.organizationId, url: input.url } };
  });
}

/**
 * Adds `secret` to the organization's active endpoint; the secrets valid until now stay valid for
 * `overlapSeconds` more (0: they stop now). Null when the organization has no active endpoint.
 */
export async function rotateSecret(
  client: Client,
  keyring: SecretKeyring,
  input: { organizationId: number; secret: string; overlapSeconds: number },
): Promise<{ endpointId: string; previousValidUntil: Date | null } | null> {
  return inTransaction(client, async () => {
    const { rows } = await client.query<{ id: string }>(`SELECT id::text FROM webhook_endpoints WHERE organization_id = $1 AND disabled_at IS NULL FOR UPDATE`, [input.organizationId]);
    const endpointId = rows[0]?.id;
    if (!endpointId) return null;
    const { rows: ended } = await client.query<{ until: Date | null }>(
      `WITH ended AS (
         UPDATE webhook_secrets SET expires_at = LEAST(COALESCE(expires_at, 'infinity'), now() + $2 * interval '1 second')
         WHERE endpoint_id = $1 AND (expires_at IS NULL OR expires_at > now()) RETURNING expires_at)
       SELECT max(expires_at) AS until FROM ended`,
      [endpointId, input.overlapSeconds],
    );
    await addSecret(client, keyring, endpointId, input.organizationId, input.secret);
    return { endpointId, previousValidUntil: ended[0]?.until ?? null };
  });
}

/**
 * Disables the organization's active endpoint (no more deliveries); null when it has none. Its
 * delivery position goes with it, in the same statement: the organization owes nothing any more, so
 * its later events hold neither the retention of task_events nor the lag gauge, and dispatch marks
 * nothing for it (a replica that still has the endpoint until its next refresh finds nothing to do).
 */
export async function disableEndpoint(client: Client, input: { organizationId: number; by: string }): Promise<{ id: string } | null> {
  const { rows } = await client.query<{ id: string }>(
    `WITH disabled AS (
       UPDATE webhook_endpoints SET disabled_at = now(), disabled_by = $2 WHERE organization_id = $1 AND disabled_at IS NULL RETURNING id::text),
     forgotten AS (DELETE FROM outbox_cursors WHERE target = $3 AND EXISTS (SELECT 1 FROM disabled))
     SELECT id FROM disabled`,
    [input.organizationId, input.by, webhookTarget(input.organizationId)],
  );
  return rows[0] ?? null;
}

/** Endpoints (active only, unless `all`), by organization; secrets listed without their value. */
export async function listEndpoints(client: Client, options: { all?: boolean; organizationId?: number } = {}): Promise<EndpointSummary[]> {
  const { rows } = await client.query<{
    id: string; organization_id: number; url: string; created_by: string; created_at: Date; disabled_at: Date | null; disabled_by: string | null;
    secrets: { id: string; created_at: string; expires_at: string | null; key_id: string }[];
  }>(
    `SELECT e.id::text, e.organization_id, e.url, e.created_by, e.created_at, e.disabled_at, e.disabled_by,
            COALESCE((SELECT json_agg(json_build_object('id', s.id::text, 'created_at', s.created_at, 'expires_at', s.expires_at, 'key_id', s.key_id) ORDER BY s.id DESC)
                      FROM webhook_secrets s WHERE s.endpoint_id = e.id AND (s.expires_at IS NULL OR s.expires_at > now())), '[]') AS secrets
     FROM webhook_endpoints e
     WHERE ($1 OR e.disabled_at IS NULL) AND ($2::int IS NULL OR e.organization_id = $2)
     ORDER BY e.organization_id, e.id`,
    [options.all === true, options.organizationId ?? null],
  );
  return rows.map((r) => ({
    id: r.id,
    organizationId: r.organization_id,
    url: redactedUrl(r.url),
    createdBy: r.created_by,
    createdAt: r.created_at,
    disabledAt: r.disabled_at,
    disabledBy: r.disabled_by,
    secrets: r.secrets.map((s) => ({ id: s.id, createdAt: new Date(s.created_at), expiresAt: s.expires_at ? new Date(s.expires_at) : null, keyId: s.key_id })),
  }));
}
