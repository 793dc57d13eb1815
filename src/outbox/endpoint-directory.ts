// The webhook endpoints the delivery signs for and posts to: those of WEBHOOKS_FILE / WEBHOOKS_JSON
// (fixed at start) and, when WEBHOOK_SECRETS_KEY is set, those kept in PostgreSQL (managed with
// `watchdog webhooks …`), read again every WEBHOOK_ENDPOINTS_REFRESH so an endpoint created, rotated or
// disabled takes effect without a restart. An organization in both uses the database's. One read
// per refresh for every endpoint (webhook-endpoints-store.ts); nothing per event. Webhook replay
// (replay.ts) asks the same directory which organizations have an endpoint and how to sign for them.
import type { Logger } from "pino";
import { signer } from "./send-webhook.js";
import type { Queryable } from "./sql/queryable.js";
import type { WebhookEndpoint } from "./webhook-config.js";
import { findActiveEndpoints } from "./webhook-endpoints-store.js";
import type { SecretKeyring } from "./webhook-secret-box.js";

export interface DirectoryEntry {
  readonly organizationId: number;
  readonly url: string;
  readonly sign: ReturnType<typeof signer>;
}

export interface EndpointDirectory {
  get(organizationId: number): DirectoryEntry | undefined;
  organizationIds(): readonly number[];
  /** Reads the database's endpoints again (a no-op without a keyring). Out: the organizations new since the last read. */
  refresh(): Promise<number[]>;
}

export interface DirectorySources {
  fromEnvironment: readonly WebhookEndpoint[];
  db: Queryable;
  /** Opens the database's secrets (WEBHOOK_SECRETS_KEY); null: the environment's endpoints only. */
  keyring: SecretKeyring | null;
}

export function endpointDirectory(options: DirectorySources & { logger?: Logger }): EndpointDirectory {
  const fixed = new Map(options.fromEnvironment.map((e) => [e.organizationId, { organizationId: e.organizationId, url: e.url, sign: signer(e), key: `${e.url} ${e.secret}` }]));
  let entries = new Map(fixed);
  let ids: readonly number[] = [...entries.keys()];
  return {
    get: (organizationId) => entries.get(organizationId),
    organizationIds: () => ids,
    async refresh() {
      if (!options.keyring) return [];
      const stored = await findActiveEndpoints(options.db, options.keyring);
      const next = new Map(fixed);
      for (const e of stored) {
        const key = `${e.url} ${e.secrets.join(" ")}`;
        const known = entries.get(e.organizationId);
        // Keep the signer when nothing changed: a refresh costs no HMAC key setup per endpoint.
        next.set(e.organizationId, known && known.key === key ? known : { organizationId: e.organizationId, url: e.url, sign: signer({ secret: e.secrets[0]!, secrets: e.secrets }), key });
      }
      const added = [...next.keys()].filter((id) => !entries.has(id));
      const removed = [...entries.keys()].filter((id) => !next.has(id));
      if (added.length + removed.length > 0) options.logger?.info({ added: added.length, removed: removed.length, endpoints: next.size }, "webhook endpoints changed");
      entries = next;
      ids = [...entries.keys()];
      return added;
    },
  };
}

/**
 * The organizations with an endpoint now, from the directory's two sources, read once: what a
 * replay request (the CLI, the console) is checked against, so it agrees with the delivery and the
 * replay worker. A directory of its own: a refresh of the outbox's would take over the organizations
 * new since its last read, which the outbox's own refresh starts delivering to.
 */
export async function organizationsWithEndpoint(sources: DirectorySources): Promise<readonly number[]> {
  const directory = endpointDirectory(sources);
  await directory.refresh();
  return directory.organizationIds();
}
