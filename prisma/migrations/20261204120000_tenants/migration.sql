-- Tenants in the database: the API's bearer tokens and the organizations' webhook endpoints, managed
-- with `watchdog tokens …` and `watchdog webhooks …` (docs/cli.md). API_TOKENS and WEBHOOKS_FILE /
-- WEBHOOKS_JSON still work for small set-ups; at thousands of organizations these tables are the
-- way: an environment string is limited to 128 KiB, and a request must not cost more per tenant.
-- New, empty tables: their indexes are built inside this migration's transaction in no time
-- (only an index on a large existing table needs a CONCURRENTLY migration of its own, docs/operations.md).

-- One row per token. Only the token's SHA-256 is kept (hex): a token is 256 random bits, so a fast
-- hash is enough (no dictionary to guess from), and a request finds its token by one probe of the
-- unique index, whatever the number of tenants. A token is valid while it is neither revoked nor
-- past expires_at (set on the old token by a rotation: both tokens work until then).
CREATE TABLE "api_tokens" (
    "id" BIGSERIAL NOT NULL,
    "organization_id" INTEGER NOT NULL,
    "token_sha256" TEXT NOT NULL,
    -- A name for people ("ci", "billing export"); never the token.
    "label" TEXT,
    "created_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(6),
    "revoked_at" TIMESTAMPTZ(6),
    "revoked_by" TEXT,

    CONSTRAINT "api_tokens_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "api_tokens_token_sha256_hex" CHECK ("token_sha256" ~ '^[0-9a-f]{64}$'),
    CONSTRAINT "api_tokens_organization_id_range" CHECK ("organization_id" >= 1)
);
CREATE UNIQUE INDEX "api_tokens_token_sha256_key" ON "api_tokens"("token_sha256");
CREATE INDEX "api_tokens_organization_id_idx" ON "api_tokens"("organization_id");

-- One row per webhook endpoint; at most one active (not disabled) endpoint per organization, as
-- with WEBHOOKS_FILE. A disabled endpoint stays as the audit record of who disabled it and when.
CREATE TABLE "webhook_endpoints" (
    "id" BIGSERIAL NOT NULL,
    "organization_id" INTEGER NOT NULL,
    "url" TEXT NOT NULL,
    "created_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "disabled_at" TIMESTAMPTZ(6),
    "disabled_by" TEXT,

    CONSTRAINT "webhook_endpoints_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "webhook_endpoints_organization_id_range" CHECK ("organization_id" >= 1)
);
CREATE UNIQUE INDEX "webhook_endpoints_organization_id_key" ON "webhook_endpoints"("organization_id") WHERE "disabled_at" IS NULL;

-- An endpoint's signing secrets. The watchdog must sign with the secret itself (HMAC), so it cannot
-- keep only a hash: each secret is sealed with AES-256-GCM under a key from the environment
-- (WEBHOOK_SECRETS_KEY), with the organization as associated data. A copy of the database (a backup,
-- a replica, a dump) alone does not let anyone sign as the watchdog. key_id names the key that
-- sealed it (8 hex digits of its SHA-256), so the key itself can be rotated. Several secrets are
-- valid at once during a rotation: every delivery then carries one signature per secret (Standard
-- Webhooks), until the old one's expires_at.
CREATE TABLE "webhook_secrets" (
    "id" BIGSERIAL NOT NULL,
    "endpoint_id" BIGINT NOT NULL,
    "key_id" TEXT NOT NULL,
    "sealed_secret" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(6),

    CONSTRAINT "webhook_secrets_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "webhook_secrets_endpoint_id_fkey" FOREIGN KEY ("endpoint_id") REFERENCES "webhook_endpoints"("id") ON DELETE CASCADE
);
CREATE INDEX "webhook_secrets_endpoint_id_idx" ON "webhook_secrets"("endpoint_id");
