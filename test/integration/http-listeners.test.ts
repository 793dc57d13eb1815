// Two listeners: the external API (API_HOST:API_PORT) and ops (OPS_HOST:OPS_PORT: health,
// metrics, Bull Board). A path of one is a 404 on the other, and the ops endpoints a flood of
// probes can reach cost the dependencies at most one check in flight.
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RESTART_PROCESSING_PATH } from "../../src/api/restart-processing.js";
import { createOutboxPool } from "../../src/outbox/outbox-pool.js";
import { createDb } from "../../src/platform/db/client.js";
import { testDatabaseUrl } from "../support/db.js";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.js";
import { basic, BOARD_PASSWORD, BOARD_USER, ORG_7_TOKEN, startApp, type RunningApp } from "./http-app.js";

/**
 * The readiness check's statement as it goes over the wire (src/ops/health.ts), and the startup
 * message of a connection of the pool it runs on (src/platform/db/client.ts: the only pool whose
 * options set idle_in_transaction_session_timeout). The outbox's own pool (src/outbox/outbox-pool.ts)
 * opens its first connection when its retention first runs, 5–10 s after start: a startup of its
 * own, which once fell inside the probes' window and was counted as theirs.
 */
const READINESS_SQL = "SELECT 1\u0000";
const CHECK_POOL_STARTUP = /\u0000user\u0000[^\u0000]*\u0000database\u0000[^\u0000]*\u0000options\u0000[^\u0000]*idle_in_transaction_session_timeout=/g;

const OPS_PATHS = ["/healthz", "/readyz", "/health/sweeps", "/metrics", "/admin/queues", "/admin/queues/api/queues"];

describe("when the worker runs", () => {
  let app: RunningApp;
  beforeAll(async () => {
    app = await startApp();
  });
  afterAll(() => app.stop());

  it("the two listeners are on different ports", () => {
    expect(new URL(app.apiUrl).port).not.toBe(new URL(app.opsUrl).port);
  });

  it.each(OPS_PATHS)("%s answers on the ops listener and is a 404 on the API listener, even with the board's credentials", async (path) => {
    const auth = { authorization: basic(BOARD_USER, BOARD_PASSWORD) };
    expect((await fetch(`${app.opsUrl}${path}`, { headers: auth })).status).not.toBe(404);
    const onApi = await fetch(`${app.apiUrl}${path}`, { headers: auth });
    expect(onApi.status).toBe(404);
  });

  it("the external API answers on the API listener and is a 404 on the ops listener", async () => {
    const init = { method: "PATCH", headers: { authorization: `Bearer ${ORG_7_TOKEN}` } };
    expect((await fetch(`${app.apiUrl}${RESTART_PROCESSING_PATH}?taskId=999999`, init)).status).toBe(404); // no such task: the route answered
    const onOps = await fetch(`${app.opsUrl}${RESTART_PROCESSING_PATH}?taskId=999999`, init);
    expect(onOps.status).toBe(404);
    expect(await onOps.json()).toEqual({ error: "not found" });
  });

  it.each(["/healthz", "/readyz", "/metrics"])("HEAD %s answers as GET does, without a body (RFC 9110: a server that serves GET serves HEAD)", async (path) => {
    const get = await fetch(`${app.opsUrl}${path}`);
    const head = await fetch(`${app.opsUrl}${path}`, { method: "HEAD" });
    expect(head.status).toBe(get.status);
    expect(head.headers.get("content-type")).toBe(get.headers.get("content-type"));
    expect(await head.text()).toBe("");
  });

  it("HEAD on a path with no GET is a 405 naming the methods it has", async () => {
    const head = await fetch(`${app.apiUrl}${RESTART_PROCESSING_PATH}?taskId=1`, { method: "HEAD", headers: { authorization: `Bearer ${ORG_7_TOKEN}` } });
    expect(head.status).toBe(405);
    expect(head.headers.get("allow")).toBe("PATCH");
  });

  it("each listener's routes are a plain list of { method, path, handler }", () => {
    const list = (routes: readonly { method: string; path: string }[]) => routes.map((r) => `${r.method} ${r.path}`).sort();
    expect(list(app.watchdog.routes.api)).toContain(`PATCH ${RESTART_PROCESSING_PATH}`);
    expect(list(app.watchdog.routes.ops)).toEqual([
      "GET /admin/console",
      "GET /admin/events/given-up",
      "GET /health/sweeps",
      "GET /healthz",
      "GET /metrics",
      "GET /readyz",
      "POST /admin/console/pause",
      "POST /admin/console/release",
      "POST /admin/console/replay",
      "POST /admin/console/resume",
      "POST /admin/events/replay",
    ]);
    for (const r of [...app.watchdog.routes.api, ...app.watchdog.routes.ops]) expect(typeof r.handler).toBe("function");
  });
});

describe("when PostgreSQL stops answering and /readyz is flooded", () => {
  let proxy: TcpProxy;
  let app: RunningApp;
  beforeAll(async () => {
    proxy = await startTcpProxy();
    app = await startApp({ DATABASE_URL: proxy.url(testDatabaseUrl()) });
  });
  afterAll(async () => {
    proxy.restore();
    await app.stop();
    await proxy.close();
  });

  it("(the count below tells a new connection of the check's pool from one of the outbox's own pool)", async () => {
    const held = await startTcpProxy();
    held.freeze();
    const url = held.url(testDatabaseUrl());
    const main = createDb(url, { max: 1, connectTimeoutMs: 200 });
    const outbox = createOutboxPool(url, 1, pino({ level: "silent" }), { connectTimeoutMs: 200 });
    try {
      await outbox.query("SELECT 2").catch(() => undefined); // times out connecting: only its startup is held
      const outboxStartups = held.heldFromClients();
      await main.$queryRaw`SELECT 2`.catch(() => undefined);
      const count = (text: string) => text.match(CHECK_POOL_STARTUP)?.length ?? 0;
      expect({ outbox: count(outboxStartups), main: count(held.heldFromClients().slice(outboxStartups.length)) }).toEqual({ outbox: 0, main: 1 });
    } finally {
      await main.$disconnect();
      await outbox.end();
      await held.close();
    }
  });

  it("50 concurrent probes cost PostgreSQL no more than the one check already in flight, and each answers 503 within 3 s", async () => {
    expect((await fetch(`${app.opsUrl}/readyz`)).status).toBe(200);
    proxy.freeze();
    // The first probe past the last answer's short cache sends the one check that now hangs.
    await expect.poll(async () => (await fetch(`${app.opsUrl}/readyz`)).status, { timeout: 10_000, interval: 100 }).toBe(503);
    const heldBefore = proxy.heldFromClients().length;

    const started = performance.now();
    const answers = await Promise.all(
      Array.from({ length: 50 }, async () => {
        const response = await fetch(`${app.opsUrl}/readyz`);
        return { status: response.status, body: (await response.json()) as { checks: { postgres: string; redis: string } }, ms: performance.now() - started };
      }),
    );
    for (const a of answers) {
      expect(a.status).toBe(503);
      expect(a.body.checks).toEqual({ redis: "ok", postgres: "postgres: no answer within 2000 ms" });
      expect(a.ms).toBeLessThan(3000);
    }
    // What the probes could cost PostgreSQL: a readiness statement, or a new connection of the pool the
    // check runs on. The worker's own loops may send their statements, and open connections of their
    // own pools, meanwhile (the bulk loop polls every second; its poll, sent in this window by chance,
    // once failed a count of every byte; so did the outbox pool's first connection) and are not counted.
    const costs = (text: string) => text.split(READINESS_SQL).length - 1 + (text.match(CHECK_POOL_STARTUP)?.length ?? 0);
    expect(costs(proxy.heldFromClients().slice(heldBefore))).toBe(0);
    expect(costs(proxy.heldFromClients())).toBeGreaterThan(0); // the check the first probe sent: the patterns match it

    // Thawed: the check in flight returns and readiness comes back by itself.
    proxy.restore();
    await expect.poll(async () => (await fetch(`${app.opsUrl}/readyz`)).status, { timeout: 10_000, interval: 100 }).toBe(200);
  });
});

describe("when no API token is configured", () => {
  it("the worker warns at start that the API is closed, naming API_TOKENS; with tokens it does not", async () => {
    const closed = await startApp({ API_TOKENS: "" }, { captureLogs: true });
    const open = await startApp({}, { captureLogs: true });
    try {
      const warnings = (app: RunningApp) => app.logs().split("\n").filter((l) => l.includes("API_TOKENS")).map((l) => JSON.parse(l) as { level: number; msg: string });
      expect(warnings(closed)).toEqual([expect.objectContaining({ level: 40, msg: expect.stringMatching(/^no API token is configured \(API_TOKENS is unset and the api_tokens table has no valid token\): the external API answers 401 to every request; set API_TOKENS or create one with `watchdog tokens create`$/) })]);
      expect(warnings(open)).toEqual([]);
      expect((await fetch(`${closed.apiUrl}${RESTART_PROCESSING_PATH}?taskId=1`, { method: "PATCH", headers: { authorization: `Bearer ${ORG_7_TOKEN}` } })).status).toBe(401);
    } finally {
      await closed.stop();
      await open.stop();
    }
  });
});
