// Webhook endpoints kept in PostgreSQL: what the relay reads (findActiveEndpoints) after each
// change an operator makes, with the secrets sealed at rest. Time moves by writing expires_at.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { createEndpoint, disableEndpoint, listEndpoints, rotateSecret } from "../../src/outbox/webhook-endpoints-admin.js";
import { findActiveEndpoints, readActiveEndpoints } from "../../src/outbox/webhook-endpoints-store.js";
import { endpointDirectory } from "../../src/outbox/endpoint-directory.js";
import type { Queryable } from "../../src/outbox/sql/queryable.js";
import type { TaskEventMessage } from "../../src/outbox/message.js";
import { signer } from "../../src/outbox/send-webhook.js";
import { createKeyring, generateWebhookSecret, parseSecretKeys, WebhookSecretsKeyError, type SecretKeyring } from "../../src/outbox/webhook-secret-box.js";
import { testDatabaseUrl } from "../support/db.js";

const pool = new pg.Pool({ connectionString: testDatabaseUrl(), max: 2 });
afterAll(() => pool.end());
const newKey = () => randomBytes(32);
const sealingKey = newKey();
const keyring = createKeyring([sealingKey]);

beforeEach(async () => {
  await pool.query(`TRUNCATE webhook_secrets, webhook_endpoints RESTART IDENTITY CASCADE`);
});

async function create(organizationId: number, url = `https://hooks.example.com/org-${organizationId}`) {
  const secret = generateWebhookSecret();
  const result = await createEndpoint(pool, keyring, { organizationId, url, secret, by: "test" });
  if (!("created" in result)) throw new Error("not created");
  return { secret, url };
}

describe("findActiveEndpoints", () => {
  it("when endpoints are created, returns each organization's url and secret, all or only those asked for", async () => {
    const seven = await create(7);
    const twelve = await create(12);
    expect(await findActiveEndpoints(pool, keyring)).toEqual([
      { organizationId: 7, url: seven.url, secrets: [seven.secret] },
      { organizationId: 12, url: twelve.url, secrets: [twelve.secret] },
    ]);
    expect(await findActiveEndpoints(pool, keyring, [12, 99])).toEqual([{ organizationId: 12, url: twelve.url, secrets: [twelve.secret] }]);
    expect(await findActiveEndpoints(pool, keyring, [])).toEqual([]);
  });

  it("keeps no secret in the clear: the row holds neither the secret nor its key material", async () => {
    const { secret } = await create(7);
    const { rows } = await pool.query<{ dump: string }>(`SELECT row_to_json(s)::text AS dump FROM webhook_secrets s`);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.dump).not.toContain(secret);
    expect(rows[0]!.dump).not.toContain(secret.slice("whsec_".length, "whsec_".length + 16));
  });

  it("when a secret is rotated with an overlap, returns both (newest first) until the old one's expiry, then only the new one", async () => {
    const { secret: old } = await create(7);
    const fresh = generateWebhookSecret();
    const rotated = await rotateSecret(pool, keyring, { organizationId: 7, secret: fresh, overlapSeconds: 3600 });
    expect(rotated?.previousValidUntil).toBeInstanceOf(Date);
    expect((await findActiveEndpoints(pool, keyring))[0]!.secrets).toEqual([fresh, old]);
    await pool.query(`UPDATE webhook_secrets SET expires_at = now() - interval '1 second' WHERE expires_at IS NOT NULL`);
    expect((await findActiveEndpoints(pool, keyring))[0]!.secrets).toEqual([fresh]);
  });

  it("when rotated with no overlap, the old secret stops at once", async () => {
    await create(7);
    const fresh = generateWebhookSecret();
    await rotateSecret(pool, keyring, { organizationId: 7, secret: fresh, overlapSeconds: 0 });
    expect((await findActiveEndpoints(pool, keyring))[0]!.secrets).toEqual([fresh]);
  });

  it("when an endpoint is disabled, leaves it out; the organization may then get a new one", async () => {
    await create(7);
    const second = await createEndpoint(pool, keyring, { organizationId: 7, url: "https://elsewhere.example.com/x", secret: generateWebhookSecret(), by: "test" });
    expect(second).toEqual({ existing: expect.any(String) });
    expect(await disableEndpoint(pool, { organizationId: 7, by: "alice" })).toEqual({ id: expect.any(String) });
    expect(await findActiveEndpoints(pool, keyring)).toEqual([]);
    expect(await disableEndpoint(pool, { organizationId: 7, by: "alice" })).toBeNull();
    const { url } = await create(7, "https://elsewhere.example.com/x");
    expect((await findActiveEndpoints(pool, keyring)).map((e) => e.url)).toEqual([url]);
    const listed = await listEndpoints(pool, { all: true });
    expect(listed.map((e) => [e.organizationId, e.disabledBy])).toEqual([[7, "alice"], [7, null]]);
    expect(JSON.stringify(listed)).not.toMatch(/whsec_|sealed/);
  });

  it("when the key that sealed a secret is missing, says which key and organization, never the secret", async () => {
    await create(7);
    const other = createKeyring([newKey()]);
    const error = await findActiveEndpoints(pool, other).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WebhookSecretsKeyError);
    expect((error as Error).message).toMatch(new RegExp(`organization 7 was sealed with key ${keyring.sealingKeyId}, which WEBHOOK_SECRETS_KEY does not hold`));
    // With the old key listed after a new one, it opens again: the key can be rotated.
    const rotating = createKeyring([newKey(), sealingKey]);
    expect((await findActiveEndpoints(pool, rotating))[0]!.organizationId).toBe(7);
  });

  it("a sealed secret copied into another organization's endpoint does not open", async () => {
    await create(7);
    await create(8);
    await pool.query(`UPDATE webhook_secrets SET sealed_secret = (SELECT sealed_secret FROM webhook_secrets WHERE endpoint_id = 1) WHERE endpoint_id = 2`);
    await expect(findActiveEndpoints(pool, keyring, [8])).rejects.toThrow(/organization 8 does not open with key/);
  });
});

describe("the endpoint directory's refresh", () => {
  /** The same keyring, counting the secrets it opens. */
  const counting = (inner: SecretKeyring) => {
    const ring = { opens: 0, sealingKeyId: inner.sealingKeyId, seal: inner.seal, open: (keyId: string, sealed: string, organizationId: number) => (ring.opens++, inner.open(keyId, sealed, organizationId)) };
    return ring;
  };
  const message = { id: "evt_1", type: "task.flagged", kind: "FLAGGED", taskId: 1, organizationId: 7, workspaceId: 1, externalId: null, fromStatus: { code: 41, name: "ProcessingInProgress" }, toStatus: null, reason: "stuck", actor: "watchdog", sweepId: null } as unknown as TaskEventMessage;
  const now = new Date("2026-12-07T12:00:00Z");
  const signsWith = (sign: ReturnType<typeof signer> | undefined, secrets: string[]) => expect(sign?.(message, now)).toEqual(signer({ secret: secrets[0]!, secrets })(message, now));

  it("opens a secret once: a refresh that finds the same rows opens none; a rotation opens the new one; a disabled endpoint leaves", async () => {
    const seven = await create(7);
    const eight = await create(8);
    const ring = counting(keyring);
    const directory = endpointDirectory({ fromEnvironment: [], db: pool, keyring: ring });
    expect(await directory.refresh()).toEqual([7, 8]);
    expect(ring.opens).toBe(2);
    expect(await directory.refresh()).toEqual([]);
    expect(ring.opens).toBe(2);
    signsWith(directory.get(7)?.sign, [seven.secret]);

    const fresh = generateWebhookSecret();
    await rotateSecret(pool, keyring, { organizationId: 7, secret: fresh, overlapSeconds: 3600 });
    await directory.refresh();
    expect(ring.opens).toBe(3);
    signsWith(directory.get(7)?.sign, [fresh, seven.secret]);
    await disableEndpoint(pool, { organizationId: 8, by: "alice" });
    await directory.refresh();
    expect({ opens: ring.opens, ids: directory.organizationIds(), eight: directory.get(8) }).toEqual({ opens: 3, ids: [7], eight: undefined });
    // Organization 8 again, with its old sealed row back: it was not kept from the reads before.
    await pool.query(`UPDATE webhook_endpoints SET disabled_at = NULL WHERE organization_id = 8`);
    await directory.refresh();
    expect(ring.opens).toBe(4);
    signsWith(directory.get(8)?.sign, [eight.secret]);
  });

  it("starts from the secrets a read before it opened (the start's check): its first refresh opens none of them", async () => {
    const seven = await create(7);
    const check = await readActiveEndpoints(pool, keyring);
    const ring = counting(keyring);
    const directory = endpointDirectory({ fromEnvironment: [], db: pool, keyring: ring, opened: check.opened });
    expect(await directory.refresh()).toEqual([7]);
    expect(ring.opens).toBe(0);
    signsWith(directory.get(7)?.sign, [seven.secret]);
  });

  it("two refreshes never overlap: a read answered late cannot bring back an endpoint that a later refresh saw revoked", async () => {
    await create(7);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let reads = 0;
    // The first read's answer comes late (a slow database or network): it was read before the revoke.
    const slow = {
      query: async (...args: unknown[]) => {
        const n = ++reads;
        const result: unknown = await (pool.query as (...a: unknown[]) => Promise<unknown>)(...args);
        if (n === 1) await held;
        return result;
      },
    } as unknown as Queryable;
    const directory = endpointDirectory({ fromEnvironment: [], db: slow, keyring });
    const older = directory.refresh();
    await expect.poll(() => reads).toBe(1);
    await disableEndpoint(pool, { organizationId: 7, by: "alice" });
    const newer = directory.refresh();
    // A refresh beside the slow one would read and land now, before it.
    await Promise.race([newer, new Promise((resolve) => setTimeout(resolve, 300))]);
    release();
    await Promise.all([older, newer]);
    expect({ ids: directory.organizationIds(), seven: directory.get(7) }).toEqual({ ids: [], seven: undefined });
  });

  it("a row altered since the last read is opened again, and refused: the organization keeps the secret it had for its URL", async () => {
    const seven = await create(7);
    await create(8);
    const ring = counting(keyring);
    const directory = endpointDirectory({ fromEnvironment: [], db: pool, keyring: ring });
    await directory.refresh();
    await pool.query(`UPDATE webhook_secrets SET sealed_secret = (SELECT sealed_secret FROM webhook_secrets WHERE endpoint_id = 2) WHERE endpoint_id = 1`);
    await directory.refresh();
    expect(ring.opens).toBe(3);
    signsWith(directory.get(7)?.sign, [seven.secret]);
  });
});

describe("WEBHOOK_SECRETS_KEY", () => {
  it("takes base64 keys of 32 bytes, comma-separated; the first seals and every one opens", () => {
    const [a, b] = [newKey(), newKey()];
    const parsed = parseSecretKeys(`${a.toString("base64")}, ${b.toString("base64")}`);
    expect(parsed).toEqual({ value: [a, b] });
    const old = createKeyring([b]);
    const sealed = old.seal("whsec_x", 3);
    expect(createKeyring([a, b]).open(sealed.keyId, sealed.sealed, 3)).toBe("whsec_x");
  });

  it("refuses a key of the wrong length, naming which entry and how to make one", () => {
    expect(parseSecretKeys(`${newKey().toString("base64")},${randomBytes(16).toString("base64")}`)).toEqual({
      error: expect.stringMatching(/^key 2 of 2 is not the base64 of 32 bytes; make one with `openssl rand -base64 32`/),
    });
    expect(parseSecretKeys("not base64!")).toEqual({ error: expect.stringMatching(/^key 1 of 1/) });
  });
});
