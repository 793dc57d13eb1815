// API tokens kept in PostgreSQL (table api_tokens, prisma/migrations/20261204120000_tenants). Only a
// token's SHA-256 is stored: a token is 256 random bits, so a fast hash cannot be reversed by
// guessing, and a request finds its token with one probe of the unique index on the hash — the
// cost of a request does not grow with the number of tenants, and nothing is loaded at start-up.
// A token is shown once, when `watchdog tokens create|rotate` makes it.
import { createHash, randomBytes } from "node:crypto";
import type pg from "pg";

type Client = Pick<pg.ClientBase, "query">;

/** `wdt_` + base64url of 32 random bytes: 47 characters an `Authorization: Bearer` header carries as is. */
export function generateApiToken(): string {
  return `wdt_${randomBytes(32).toString("base64url")}`;
}

export const tokenSha256 = (token: string): string => createHash("sha256").update(token, "utf8").digest("hex");

/** Names a token in logs, audit trails and `tokens list` without revealing it: 8 hex digits of its SHA-256. */
export const tokenFingerprint = (token: string): string => tokenSha256(token).slice(0, 8);

/**
 * findTokenOrganization — In: a token's SHA-256 (hex). Reads: api_tokens by its unique index, one
 * row at most; valid = not revoked and not past expires_at (database clock). Locks: nothing.
 * Out: the token's organization, or null.
 */
export const FIND_TOKEN_ORGANIZATION_SQL = `
  SELECT organization_id FROM api_tokens
  WHERE token_sha256 = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`;

/** Whether any token of the table is valid now: at start, the worker warns when the API is closed. Locks: nothing. */
export const ANY_VALID_TOKEN_SQL = `
  SELECT EXISTS (SELECT 1 FROM api_tokens WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())) AS any`;

export interface TokenSummary {
  id: string;
  organizationId: number;
  label: string | null;
  fingerprint: string;
  createdBy: string;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
  revokedBy: string | null;
}

export async function createToken(client: Client, input: { organizationId: number; label?: string | undefined; by: string }): Promise<{ id: string; organizationId: number; token: string }> {
  const token = generateApiToken();
  const { rows } = await client.query<{ id: string }>(
    `INSERT INTO api_tokens (organization_id, token_sha256, label, created_by) VALUES ($1, $2, $3, $4) RETURNING id::text`,
    [input.organizationId, tokenSha256(token), input.label ?? null, input.by],
  );
  return { id: rows[0]!.id, organizationId: input.organizationId, token };
}

/**
 * A new token for the same organization; the old one stays valid `overlapSeconds` more (0: it stops
 * now). Null when `id` names no valid token. One transaction: the old row is locked while it runs.
 */
export async function rotateToken(
  client: Client,
  input: { id: string; overlapSeconds: number; by: string },
): Promise<{ id: string; organizationId: number; token: string; previousValidUntil: Date } | null> {
  await client.query("BEGIN");
  try {
    const { rows } = await client.query<{ organization_id: number; label: string | null; until: Date }>(
      `UPDATE api_tokens SET expires_at = LEAST(COALESCE(expires_at, 'infinity'), now() + $2 * interval '1 second')
       WHERE id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
       RETURNING organization_id, label, expires_at AS until`,
      [input.id, input.overlapSeconds],
    );
    const old = rows[0];
    if (!old) {
      await client.query("ROLLBACK");
      return null;
    }
    const created = await createToken(client, { organizationId: old.organization_id, label: old.label ?? undefined, by: input.by });
    await client.query("COMMIT");
    return { ...created, previousValidUntil: old.until };
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
}

/** Revokes a token at once; null when `id` names no token that is still valid. */
export async function revokeToken(client: Client, input: { id: string; by: string }): Promise<{ id: string; organizationId: number } | null> {
  const { rows } = await client.query<{ id: string; organization_id: number }>(
    `UPDATE api_tokens SET revoked_at = now(), revoked_by = $2
     WHERE id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()) RETURNING id::text, organization_id`,
    [input.id, input.by],
  );
  return rows[0] ? { id: rows[0].id, organizationId: rows[0].organization_id } : null;
}

/** Tokens (valid only, unless `all`), by organization; never the token, only its fingerprint. */
export async function listTokens(client: Client, options: { all?: boolean; organizationId?: number } = {}): Promise<TokenSummary[]> {
  const { rows } = await client.query<{
    id: string; organization_id: number; label: string | null; fingerprint: string; created_by: string; created_at: Date; expires_at: Date | null; revoked_at: Date | null; revoked_by: string | null;
  }>(
    `SELECT id::text, organization_id, label, left(token_sha256, 8) AS fingerprint, created_by, created_at, expires_at, revoked_at, revoked_by
     FROM api_tokens
     WHERE ($1 OR (revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()))) AND ($2::int IS NULL OR organization_id = $2)
     ORDER BY organization_id, id`,
    [options.all === true, options.organizationId ?? null],
  );
  return rows.map((r) => ({
    id: r.id,
    organizationId: r.organization_id,
    label: r.label,
    fingerprint: r.fingerprint,
    createdBy: r.created_by,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
    revokedBy: r.revoked_by,
  }));
}
