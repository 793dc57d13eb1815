// One webhook request against real local endpoints: what counts as delivered, what a failure says
// (never the secret or the body), and that the signature is exactly Standard Webhooks' (verified
// with the `standardwebhooks` package itself).
import http from "node:http";
import net from "node:net";
import { randomBytes } from "node:crypto";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Webhook } from "standardwebhooks";
import { createWebhookSender, signer, signWith } from "../../src/outbox/send-webhook.js";
import type { TaskEventMessage } from "../../src/outbox/message.js";

const secret = `whsec_${randomBytes(32).toString("base64")}`;
const message: TaskEventMessage = {
  id: "evt_42",
  type: "task.auto_reverted",
  kind: "AUTO_REVERTED",
  taskId: 42,
  organizationId: 7,
  workspaceId: 3,
  externalId: "ext-\u00e9\u4e2d", // non-ASCII: the body's bytes, not its characters, are signed
  fromStatus: { code: 41, name: "ProcessingInProgress" },
  toStatus: { code: 40, name: "ProcessingQueued" },
  reason: "stuck",
  actor: "watchdog",
  sweepId: "sweep_1",
  stuckSince: null,
  createdAt: "2026-12-05T00:00:00.000Z",
  details: {},
};

const sender = createWebhookSender(8);
const sendWebhook = sender.send;
afterAll(() => sender.close());

const servers: { close(): void }[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

function listen(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  servers.push({
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}/hooks/7?k=v`)));
}

describe("sendWebhook", () => {
  it("signs exactly as the standardwebhooks package does, for one secret and for two", () => {
    const now = new Date("2026-12-05T10:00:00Z");
    const other = `whsec_${randomBytes(24).toString("base64")}`;
    const signed = signer({ secret, secrets: [secret, other] })(message, now);
    const expected = [secret, other].map((s) => new Webhook(s).sign(message.id, now, signed.body)).join(" ");
    expect(signed.headers["webhook-signature"]).toBe(expected);
    expect(signWith(secret, "msg_1", 1_700_000_000, "{}")).toBe(new Webhook(secret).sign("msg_1", new Date(1_700_000_000_000), "{}"));
  });

  it("a 2xx is delivered, and the receiver verifies the request with the package", async () => {
    let verified: unknown;
    const url = await listen((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString("utf8")));
      req.on("end", () => {
        verified = new Webhook(secret).verify(body, req.headers as Record<string, string>);
        res.writeHead(204).end();
      });
    });
    expect(await sendWebhook({ url }, signer({ secret }), message, 2000)).toEqual({ ok: true, status: 204 });
    expect(verified).toMatchObject({ type: "task.auto_reverted", data: { id: "evt_42", externalId: "ext-\u00e9\u4e2d" } });
  });

  it("a 5xx, a redirect (not followed), a refused connection and a hang each fail with a reason naming the endpoint, not the query, secret or body", async () => {
    const failing = await listen((req, res) => {
      req.resume();
      res.writeHead(503).end("down");
    });
    let followed = false;
    const target = await listen((req, res) => {
      followed = true;
      req.resume();
      res.writeHead(204).end();
    });
    const redirecting = await listen((req, res) => {
      req.resume();
      res.writeHead(307, { location: target }).end();
    });
    const hanging = await listen((req) => req.resume()); // never answers
    const closed = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, "127.0.0.1", () => {
        const port = (probe.address() as net.AddressInfo).port;
        probe.close(() => resolve(port));
      });
    });
    const sign = signer({ secret });
    const origin = (url: string) => new URL(url).origin;
    expect(await sendWebhook({ url: failing }, sign, message, 2000)).toEqual({ ok: false, reason: `${origin(failing)}/hooks/7 answered 503` });
    expect(await sendWebhook({ url: redirecting }, sign, message, 2000)).toEqual({ ok: false, reason: `${origin(redirecting)}/hooks/7 answered 307` });
    expect(followed).toBe(false);
    expect(await sendWebhook({ url: `http://127.0.0.1:${closed}/hooks/7` }, sign, message, 2000)).toEqual({ ok: false, reason: `http://127.0.0.1:${closed}/hooks/7: ECONNREFUSED` });
    const started = Date.now();
    expect(await sendWebhook({ url: hanging }, sign, message, 300)).toEqual({ ok: false, reason: `${origin(hanging)}/hooks/7: no answer within 300 ms` });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("close() lets a request in flight finish, then closes the kept connections; a later send fails with a reason", async () => {
    let server!: http.Server;
    const url = await new Promise<string>((resolve) => {
      server = http.createServer((req, res) => {
        req.resume();
        setTimeout(() => res.writeHead(204).end(), 200); // in flight while close() is called
      });
      servers.push({ close: () => server.close() });
      server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}/hooks/7`));
    });
    const own = createWebhookSender(2);
    const sign = signer({ secret });
    const inFlight = own.send({ url }, sign, message, 2000);
    await new Promise((r) => setTimeout(r, 50));
    await own.close();
    expect(await inFlight).toEqual({ ok: true, status: 204 });
    // The client has closed its end; the server sees it as the FIN arrives.
    const open = () => new Promise<number>((resolve, reject) => server.getConnections((error, n) => (error ? reject(error) : resolve(n))));
    await expect.poll(open, { timeout: 2000, interval: 20 }).toBe(0);
    const late = await own.send({ url }, sign, message, 2000);
    expect(late.ok).toBe(false);
  });
});
