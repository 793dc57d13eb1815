// The one authentication of the customer API: who is asking, for which organization. A bearer
// token is looked up by its SHA-256 — in the tokens of API_TOKENS (hashed once, at start) and then
// in the api_tokens table (one probe of its unique index). Neither walks the tenants: a request
// costs the same with 1 organization or 10,000, and start-up loads nothing per tenant.
// Why a hash lookup is safe from timing: what a lookup's time could reveal is how a SHA-256 of the
// presented token compares with stored hashes, and learning bits of a hash brings no one closer to
// a token of 256 random bits (nor to an API_TOKENS token, at least 24 characters).
import type { IncomingHttpHeaders } from "node:http";
import type { ApiToken } from "../platform/config/api-tokens.js";
import type { Db } from "../platform/db/client.js";
import { bearerToken } from "./credentials.js";
import { FIND_TOKEN_ORGANIZATION_SQL, tokenSha256 } from "./api-tokens-store.js";

export type Authentication =
  | { ok: true; organizationId: number; /** 8 hex digits of the token's SHA-256: names it in audit trails. */ fingerprint: string }
  | { ok: false; /** An Authorization header was sent (a wrong token), not none at all. */ presented: boolean };

export type Authenticate = (headers: IncomingHttpHeaders) => Promise<Authentication>;

export function createAuthenticator(deps: { tokens: readonly ApiToken[]; db: Db }): Authenticate {
  const fromEnvironment = new Map(deps.tokens.map((t) => [tokenSha256(t.token), t.organizationId]));
  return async (headers) => {
    const presented = bearerToken(headers);
    if (presented === null) return { ok: false, presented: headers.authorization !== undefined };
    const hash = tokenSha256(presented);
    let organizationId = fromEnvironment.get(hash);
    if (organizationId === undefined) {
      const rows = await deps.db.$queryRawUnsafe<{ organization_id: number }[]>(FIND_TOKEN_ORGANIZATION_SQL, hash);
      organizationId = rows[0]?.organization_id;
    }
    return organizationId === undefined ? { ok: false, presented: true } : { ok: true, organizationId, fingerprint: hash.slice(0, 8) };
  };
}

/** The WWW-Authenticate challenge of a 401 (RFC 6750): `invalid_token` when a token was sent. */
export const bearerChallenge = (presented: boolean) => `Bearer realm="task-watchdog"${presented ? `, error="invalid_token"` : ""}`;
