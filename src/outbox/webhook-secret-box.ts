// Webhook signing secrets at rest. The watchdog signs with the secret itself (Standard Webhooks:
// HMAC-SHA256), so a one-way hash cannot be kept as it is for API tokens. Each secret is sealed
// with AES-256-GCM under a key from the environment (WEBHOOK_SECRETS_KEY), with the organization as
// associated data: a copy of the database alone (backup, replica, dump) signs nothing, and a sealed
// secret moved to another organization's row does not open. WEBHOOK_SECRETS_KEY may list several
// keys: the first seals, every one opens (rotating the key: put the new one first, re-seal with
// `watchdog webhooks rotate`, then drop the old key).
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";

const KEY_BYTES = 32;
const IV_BYTES = 12;
const VERSION = "v1";

export class WebhookSecretsKeyError extends Error {
  override name = "WebhookSecretsKeyError";
}

export interface SecretKeyring {
  /** The id of the key that seals new secrets. */
  readonly sealingKeyId: string;
  seal(secret: string, organizationId: number): { keyId: string; sealed: string };
  /** The secret, or a WebhookSecretsKeyError naming the missing key (never the secret). */
  open(keyId: string, sealed: string, organizationId: number): string;
}

/** 8 hex digits of the key's SHA-256: names a key in rows and messages without revealing it. */
export const keyIdOf = (key: Buffer) => createHash("sha256").update(key).digest("hex").slice(0, 8);

/** WEBHOOK_SECRETS_KEY: base64 keys of 32 bytes, comma-separated, the sealing key first. */
export function parseSecretKeys(raw: string): { value: Buffer[] } | { error: string } {
  const entries = raw.split(",").map((e) => e.trim());
  const keys: Buffer[] = [];
  for (const [i, entry] of entries.entries()) {
    const key = /^[A-Za-z0-9+/]+={0,2}$/.test(entry) ? Buffer.from(entry, "base64") : Buffer.alloc(0);
    if (key.length !== KEY_BYTES) {
      return { error: `key ${i + 1} of ${entries.length} is not the base64 of ${KEY_BYTES} bytes; make one with \`openssl rand -base64 32\` (several keys: comma-separated, the sealing key first)` };
    }
    keys.push(key);
  }
  return { value: keys };
}

export function createKeyring(keys: readonly Buffer[]): SecretKeyring {
  if (keys.length === 0) throw new WebhookSecretsKeyError("WEBHOOK_SECRETS_KEY is not set: webhook endpoints kept in the database need it (`openssl rand -base64 32`)");
  const byId = new Map(keys.map((k) => [keyIdOf(k), k]));
  const sealingKey = keys[0]!;
  const sealingKeyId = keyIdOf(sealingKey);
  const aad = (organizationId: number) => Buffer.from(`webhook-secret:organization:${organizationId}`, "utf8");
  return {
    sealingKeyId,
    seal(secret, organizationId) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv("aes-256-gcm", sealingKey, iv);
      cipher.setAAD(aad(organizationId));
      const body = Buffer.concat([cipher.update(secret, "utf8"), cipher.final()]);
      const tag = cipher.getAuthTag();
      return { keyId: sealingKeyId, sealed: [VERSION, iv.toString("base64url"), body.toString("base64url"), tag.toString("base64url")].join(".") };
    },
    open(keyId, sealed, organizationId) {
      const key = byId.get(keyId);
      if (!key) throw new WebhookSecretsKeyError(`the webhook secret of organization ${organizationId} was sealed with key ${keyId}, which WEBHOOK_SECRETS_KEY does not hold (it holds ${[...byId.keys()].join(", ")}); add that key after the sealing key`);
      const [version, iv, body, tag] = sealed.split(".");
      if (version !== VERSION || !iv || body === undefined || !tag) throw new WebhookSecretsKeyError(`the webhook secret of organization ${organizationId} is not in the ${VERSION} sealed format`);
      try {
        const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64url"));
        decipher.setAAD(aad(organizationId));
        decipher.setAuthTag(Buffer.from(tag, "base64url"));
        return Buffer.concat([decipher.update(Buffer.from(body, "base64url")), decipher.final()]).toString("utf8");
      } catch (error) {
        throw new WebhookSecretsKeyError(`the webhook secret of organization ${organizationId} does not open with key ${keyId} (altered, or sealed for another organization)`, { cause: error });
      }
    },
  };
}

/** A new Standard Webhooks secret: `whsec_` + base64 of 32 random bytes. */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString("base64")}`;
}
