// A real HTTP receiver on a free loopback port, standing for a customer's webhook endpoint. It
// verifies every request with the standardwebhooks package and the organization's secret (the
// path says which organization: /hooks/<organizationId>), and records what it saw: each
// delivery, and how many requests for the same webhook-id were in flight at once.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { randomBytes } from "node:crypto";
import { Webhook } from "standardwebhooks";

export type ReceiverMode = "ok" | "down" | "hang";

export interface ReceivedEvent {
  organizationId: number;
  webhookId: string;
  timestamp: number;
  /** How many signatures webhook-signature carried (two during a secret rotation). */
  signatures: number;
  body: { type: string; timestamp: string; data: Record<string, unknown> & { id: string; taskId: number; organizationId: number } };
  readonly verified: boolean;
  /** Verification with another organization's secret (must fail). */
  readonly verifiedWithOtherSecret: boolean;
}

export interface WebhookReceiver {
  readonly port: number;
  url(organizationId: number): string;
  secret(organizationId: number): string;
  /** Accepted (2xx) deliveries, in arrival order. */
  readonly delivered: ReceivedEvent[];
  /** The distinct webhook-ids of the accepted deliveries. */
  readonly ids: Set<string>;
  /** Every request seen, answered or not. */
  readonly attempts: number;
  /** The most requests with one webhook-id in flight at the same moment (1 = never concurrent). */
  readonly maxConcurrentPerId: number;
  /** The most requests (of any ids) that were in flight at once. */
  readonly maxInFlight: number;
  /** When set, answers are held until `until` requests are in flight at once (then all go), or for `forMs` at most. */
  gather: { until: number; forMs: number } | null;
  mode: ReceiverMode;
  /** Extra wait before answering, to widen the window two concurrent deliveries would overlap in. */
  delayMs: number;
  /** Resolves when `predicate` holds for the deliveries (checked on each delivery), or rejects after `timeoutMs`. */
  waitFor(predicate: (r: WebhookReceiver) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export const newSecret = () => `whsec_${randomBytes(32).toString("base64")}`;

export async function startWebhookReceiver(organizationIds: number[]): Promise<WebhookReceiver> {
  const secrets = new Map(organizationIds.map((id) => [id, newSecret()]));
  const inFlight = new Map<string, number>();
  const hanging = new Set<http.ServerResponse>();
  const waiters: (() => void)[] = [];
  let attempts = 0;
  let maxConcurrentPerId = 0;
  let open = 0;
  let maxInFlight = 0;
  const gathered: (() => void)[] = [];
  let gatherTimer: NodeJS.Timeout | undefined;
  const releaseGathered = () => {
    clearTimeout(gatherTimer);
    gatherTimer = undefined;
    for (const release of gathered.splice(0)) release();
  };
  const delivered: ReceivedEvent[] = [];
  const ids = new Set<string>();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      attempts += 1;
      const webhookId = String(req.headers["webhook-id"] ?? "");
      const now = (inFlight.get(webhookId) ?? 0) + 1;
      inFlight.set(webhookId, now);
      maxConcurrentPerId = Math.max(maxConcurrentPerId, now);
      open += 1;
      maxInFlight = Math.max(maxInFlight, open);
      const done = (status: number) => {
        open -= 1;
        inFlight.set(webhookId, (inFlight.get(webhookId) ?? 1) - 1);
        res.writeHead(status).end();
        for (const w of waiters.splice(0)) w();
      };
      if (receiver.mode === "hang") {
        hanging.add(res);
        for (const w of waiters.splice(0)) w(); // an attempt, for waiters counting attempts
        return;
      }
      if (receiver.delayMs > 0) await new Promise((r) => setTimeout(r, receiver.delayMs));
      const gather = receiver.gather;
      if (gather) {
        await new Promise<void>((release) => {
          gathered.push(release);
          if (open >= gather.until) releaseGathered();
          else gatherTimer ??= setTimeout(releaseGathered, gather.forMs);
        });
      }
      const mode = receiver.mode as ReceiverMode; // it may have changed during the delay
      if (mode === "down") return done(503);
      if (mode === "hang") {
        hanging.add(res);
        return;
      }
      const organizationId = Number(/^\/hooks\/(\d+)$/.exec(req.url ?? "")?.[1]);
      const payload = Buffer.concat(chunks).toString("utf8");
      const headers = { "webhook-id": webhookId, "webhook-timestamp": String(req.headers["webhook-timestamp"]), "webhook-signature": String(req.headers["webhook-signature"]) };
      const verify = (secret: string | undefined) => {
        try {
          new Webhook(secret!).verify(payload, headers);
          return true;
        } catch {
          return false;
        }
      };
      const other = [...secrets.entries()].find(([id]) => id !== organizationId)?.[1] ?? newSecret();
      // Verified when a test reads it, so the receiver answers at once (it shares the test's CPU).
      const lazy = (secret: string | undefined) => {
        let result: boolean | undefined;
        return () => (result ??= verify(secret));
      };
      const mine = lazy(secrets.get(organizationId));
      const theirs = lazy(other);
      ids.add(webhookId);
      delivered.push({
        organizationId,
        webhookId,
        timestamp: Number(headers["webhook-timestamp"]),
        signatures: headers["webhook-signature"].split(" ").length,
        body: JSON.parse(payload),
        get verified() {
          return mine();
        },
        get verifiedWithOtherSecret() {
          return theirs();
        },
      });
      done(204);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;

  const receiver: WebhookReceiver = {
    port,
    url: (id) => `http://127.0.0.1:${port}/hooks/${id}`,
    secret: (id) => secrets.get(id)!,
    delivered,
    ids,
    get attempts() {
      return attempts;
    },
    get maxConcurrentPerId() {
      return maxConcurrentPerId;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    gather: null,
    mode: "ok",
    delayMs: 0,
    waitFor(predicate, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const deadline = setTimeout(() => reject(new Error(`receiver: condition not met within ${timeoutMs} ms (${delivered.length} delivered, ${attempts} attempts)`)), timeoutMs);
        const check = () => {
          if (predicate(receiver)) {
            clearTimeout(deadline);
            resolve();
          } else waiters.push(check);
        };
        check();
      });
    },
    async close() {
      releaseGathered();
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return receiver;
}

/** WEBHOOKS_JSON for these organizations, pointing at the receiver. */
export function webhooksJson(receiver: WebhookReceiver, organizationIds: number[]): string {
  return JSON.stringify(organizationIds.map((organizationId) => ({ organizationId, url: receiver.url(organizationId), secret: receiver.secret(organizationId) })));
}
