// The webhook endpoints the delivery signs for and posts to: those of WEBHOOKS_FILE / WEBHOOKS_JSON
// (fixed at start) and, when WEBHOOK_SECRETS_KEY is set, those kept in PostgreSQL (managed with
// `watchdog webhooks …`), read again every WEBHOOK_ENDPOINTS_REFRESH so an endpoint created, rotated or
// disabled takes effect without a restart. An organization in both uses the database's. One read
// per refresh for every endpoint (webhook-endpoints-store.ts); nothing per event. One organization
// whose secret cannot be opened holds up no other organization's change. Webhook replay (replay.ts)
// signs with the same directory, and checks requests with organizationsWithEndpoint (below).
import type { Logger } from "pino";
import { signer } from "./send-webhook.js";
import type { Queryable } from "./sql/queryable.js";
import type { WebhookEndpoint } from "./webhook-config.js";
import { findOrganizationsWithEndpoint, readActiveEndpoints, type OpenedSecrets, type UnreadableEndpoint } from "./webhook-endpoints-store.js";
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

/** `opened`: secrets a read before this directory opened (the start's check), so its first read opens none of them. */
export function endpointDirectory(options: DirectorySources & { logger?: Logger; opened?: OpenedSecrets }): EndpointDirectory {
  const fixed = new Map(options.fromEnvironment.map((e) => [e.organizationId, { organizationId: e.organizationId, url: e.url, sign: signer(e), key: `${e.url} ${e.secret}` }]));
  let entries = new Map(fixed);
  let ids: readonly number[] = [...entries.keys()];
  // A refresh opens only the secrets the one before did not (webhook-endpoints-store.ts, OpenedSecrets).
  let opened: OpenedSecrets = options.opened ?? new Map();
  // Logged when the set of unreadable endpoints changes, not at every refresh of a lasting one.
  let lastUnreadable = "";
  const reportUnreadable = (unreadable: readonly UnreadableEndpoint[]) => {
    const text = unreadable.map((u) => `${u.organizationId}: ${u.error.message}`).join("; ");
    if (text !== "" && text !== lastUnreadable) {
      options.logger?.error(
        { organizationIds: unreadable.map((u) => u.organizationId), reasons: unreadable.map((u) => u.error.message) },
        `webhook endpoints of ${unreadable.length} organization(s) could not be read: ${text}. Each keeps the secrets read before for the same URL, if any; the other organizations' changes apply`,
      );
    }
    lastUnreadable = text;
  };
  const directory: EndpointDirectory = {
    get: (organizationId) => entries.get(organizationId),
    organizationIds: () => ids,
    async refresh() {
      if (!options.keyring) return [];
      const read = await readActiveEndpoints(options.db, options.keyring, undefined, opened);
      const { endpoints: stored, unreadable } = read;
      opened = read.opened;
      const next = new Map(fixed);
      for (const e of stored) {
        const key = `${e.url} ${e.secrets.join(" ")}`;
        const known = entries.get(e.organizationId);
        // Keep the signer when nothing changed: a refresh costs no HMAC key setup per endpoint.
        next.set(e.organizationId, known && known.key === key ? known : { organizationId: e.organizationId, url: e.url, sign: signer({ secret: e.secrets[0]!, secrets: e.secrets }), key });
      }
      // A secret this worker cannot open (sealed with a key its WEBHOOK_SECRETS_KEY lacks, or altered)
      // holds up only its organization: the others' changes apply, and it keeps the secrets it had
      // for the same URL (a rotation this worker cannot read yet); an endpoint at another URL gets
      // nothing until it can be read (its events wait in the outbox).
      for (const { organizationId, url } of unreadable) {
        const known = entries.get(organizationId);
        if (known && known.url === url) next.set(organizationId, known);
      }
      reportUnreadable(unreadable);
      const added = [...next.keys()].filter((id) => !entries.has(id));
      const removed = [...entries.keys()].filter((id) => !next.has(id));
      if (added.length + removed.length > 0) options.logger?.info({ added: added.length, removed: removed.length, endpoints: next.size }, "webhook endpoints changed");
      entries = next;
      ids = [...entries.keys()];
      return added;
    },
  };
  // One read at a time, each begun after the one before it landed: two in flight at once (a slow
  // database, a read longer than WEBHOOK_ENDPOINTS_REFRESH) could land out of order, and the older
  // would bring back an endpoint the newer saw revoked, until the next refresh. A call while one
  // reads gets the next read, shared with every call made before that one begins.
  const readOnce = directory.refresh;
  let previous: Promise<unknown> = Promise.resolve();
  let queued: Promise<number[]> | undefined;
  const refresh = (): Promise<number[]> => {
    if (queued) return queued;
    const next = previous
      .catch(() => undefined)
      .then(() => {
        queued = undefined;
        return readOnce();
      });
    queued = previous = next;
    return next;
  };
  return { ...directory, refresh };
}

/**
 * The organizations with an endpoint now, from the directory's two sources, read once: what a
 * replay request (the CLI, the console) is checked against, so it agrees with the delivery and the
 * replay worker. No secret is opened for it (ids only): a console page or a replay request costs
 * one query, not an AES-GCM open per endpoint, and one organization's unreadable secret fails
 * nobody else's request.
 */
export async function organizationsWithEndpoint(sources: DirectorySources): Promise<readonly number[]> {
  const fromEnvironment = sources.fromEnvironment.map((e) => e.organizationId);
  if (!sources.keyring) return fromEnvironment;
  return [...new Set([...fromEnvironment, ...(await findOrganizationsWithEndpoint(sources.db))])];
}
