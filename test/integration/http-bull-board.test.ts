// Bull Board under /admin/queues: Basic auth in front, both queues shown, read-only mode, and the
// refusal to start with the ops listener exposed without credentials.
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSweepQueue } from "../../src/sweep/sweep-queue.js";
import { testDatabaseUrl } from "../support/db.js";
import { testRedisUrl, uniquePrefix } from "../support/redis.js";
import { runCli } from "../support/worker-process.js";
import { basic, BOARD_PASSWORD, BOARD_USER, startApp, type RunningApp } from "./http-app.js";

const board = (app: RunningApp, path = "", authorization?: string, method = "GET") =>
  fetch(`${app.opsUrl}/admin/queues${path}`, { method, headers: authorization ? { authorization } : {} });

describe("with BULL_BOARD_USER and BULL_BOARD_PASSWORD set, and BULL_BOARD_READ_ONLY=false", () => {
  let app: RunningApp;
  beforeAll(async () => {
    app = await startApp({ BULL_BOARD_READ_ONLY: "false" });
  });
  afterAll(() => app.stop());

  it.each([
    ["no credentials", undefined],
    ["a wrong password", basic(BOARD_USER, `${BOARD_PASSWORD}x`)],
    ["a wrong user", basic("root", BOARD_PASSWORD)],
    ["the password's prefix", basic(BOARD_USER, BOARD_PASSWORD.slice(0, -1))],
    ["a bearer token", `Bearer ${BOARD_PASSWORD}`],
  ])("%s: 401 with a Basic challenge (the browser's login prompt), for the page and its API", async (_case, authorization) => {
    for (const path of ["", "/", "/api/queues", "/static/js/main.js"]) {
      const response = await board(app, path, authorization);
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toBe('Basic realm="task-watchdog Bull Board", charset="UTF-8"');
    }
  });

  it("the right credentials: 200, the board's page, and its API lists both queues", async () => {
    const page = await board(app, "", basic(BOARD_USER, BOARD_PASSWORD));
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/text\/html/);
    expect(await page.text()).toContain("<title>Task watchdog</title>");

    const api = await board(app, "/api/queues", basic(BOARD_USER, BOARD_PASSWORD));
    expect(api.status).toBe(200);
    const { queues } = (await api.json()) as { queues: { name: string; readOnlyMode: boolean }[] };
    expect(queues.map((q) => q.name).sort()).toEqual(["task-reprocess", "task-watchdog"]);
    expect(queues.every((q) => !q.readOnlyMode)).toBe(true);
  });

  it("without read-only mode, an operator can pause a queue from the board", async () => {
    const pause = await board(app, "/api/queues/task-reprocess/pause", basic(BOARD_USER, BOARD_PASSWORD), "PUT");
    expect(pause.status).toBe(200);
    const { queues } = (await (await board(app, "/api/queues", basic(BOARD_USER, BOARD_PASSWORD))).json()) as { queues: { name: string; isPaused: boolean }[] };
    expect(queues.find((q) => q.name === "task-reprocess")?.isPaused).toBe(true);
    await board(app, "/api/queues/task-reprocess/resume", basic(BOARD_USER, BOARD_PASSWORD), "PUT");
  });

  it("other paths stay outside the board: /healthz needs no board credentials", async () => {
    expect((await fetch(`${app.opsUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${app.opsUrl}/admin/queuesX`)).status).toBe(404);
  });
});

describe("by default (BULL_BOARD_READ_ONLY unset)", () => {
  it("the board shows the queues read-only and refuses to pause one", async () => {
    const app = await startApp();
    const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
    const queue = createSweepQueue(redis, app.prefix);
    try {
      const auth = basic(BOARD_USER, BOARD_PASSWORD);
      const { queues } = (await (await board(app, "/api/queues", auth)).json()) as { queues: { name: string; readOnlyMode: boolean }[] };
      expect(queues.map((q) => [q.name, q.readOnlyMode]).sort()).toEqual([["task-reprocess", true], ["task-watchdog", true]]);
      const pause = await board(app, "/api/queues/task-watchdog/pause", auth, "PUT");
      expect(pause.status).toBe(405);
      expect(await queue.isPaused()).toBe(false);
    } finally {
      await queue.close();
      await redis.quit();
      await app.stop();
    }
  });
});

describe("without credentials", () => {
  it("on a loopback OPS_HOST the board is served without authentication", async () => {
    const app = await startApp({ BULL_BOARD_USER: "", BULL_BOARD_PASSWORD: "", OPS_HOST: "127.0.0.1" });
    try {
      expect((await board(app)).status).toBe(200);
      expect((await board(app, "/api/queues")).status).toBe(200);
    } finally {
      await app.stop();
    }
  });

  it("on a loopback OPS_HOST it answers loopback Host names only: a page whose name a rebound DNS points at 127.0.0.1 can neither read nor act", async () => {
    const app = await startApp({ BULL_BOARD_USER: "", BULL_BOARD_PASSWORD: "", OPS_HOST: "127.0.0.1", BULL_BOARD_READ_ONLY: "false" });
    const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
    const queue = createSweepQueue(redis, app.prefix);
    const port = new URL(app.opsUrl).port;
    const { request } = await import("node:http");
    const send = (host: string, path: string, method = "GET") =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request({ host: "127.0.0.1", port, path: `/admin/queues${path}`, method, headers: { host } }, (res) => {
          let body = "";
          res.setEncoding("utf8").on("data", (c: string) => (body += c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on("error", reject);
        req.end();
      });
    try {
      expect((await send(`127.0.0.1:${port}`, "/api/queues")).status).toBe(200);
      expect((await send(`localhost:${port}`, "/api/queues")).status).toBe(200);
      expect((await send(`[::1]:${port}`, "/api/queues")).status).toBe(200);
      for (const host of [`attacker.example:${port}`, "attacker.example", `127.0.0.1.nip.io:${port}`]) {
        const read = await send(host, "/api/queues");
        expect(read.status, `GET with Host ${JSON.stringify(host)}`).toBe(403);
        expect(read.body).toContain("BULL_BOARD_USER");
        expect((await send(host, "/api/queues/task-watchdog/pause", "PUT")).status, `PUT with Host ${JSON.stringify(host)}`).toBe(403);
      }
      expect(await queue.isPaused()).toBe(false);
    } finally {
      await queue.close();
      await redis.quit();
      await app.stop();
    }
  });

  it("on an exposed OPS_HOST the worker refuses to start, naming the variables, and never listens", async () => {
    const cli = runCli(["start"], {
      DATABASE_URL: testDatabaseUrl(),
      REDIS_URL: testRedisUrl(),
      QUEUE_PREFIX: uniquePrefix(),
      OPS_HOST: "0.0.0.0",
      API_PORT: "0",
      OPS_PORT: "0",
      SWEEP_SCHEDULE_ENABLED: "false",
    });
    expect(await cli.exited).toEqual({ code: 1, signal: null });
    expect(cli.stderr()).toContain('OPS_HOST="0.0.0.0" exposes the ops listener beyond this machine');
    expect(cli.stderr()).toContain("set BULL_BOARD_USER and BULL_BOARD_PASSWORD, or bind a loopback OPS_HOST");
    expect(cli.lines().some((l) => l.msg === "watchdog started")).toBe(false);
  });

  it("an exposed API_HOST alone needs no board credentials: the board is not on that listener", async () => {
    const app = await startApp({ BULL_BOARD_USER: "", BULL_BOARD_PASSWORD: "", API_HOST: "0.0.0.0" });
    try {
      const port = new URL(app.apiUrl).port;
      expect((await fetch(`http://127.0.0.1:${port}/admin/queues`)).status).toBe(404);
    } finally {
      await app.stop();
    }
  });

  it("on an exposed OPS_HOST with credentials the worker starts, and the board asks for them", async () => {
    const app = await startApp({ OPS_HOST: "0.0.0.0" });
    try {
      const port = new URL(app.opsUrl).port;
      expect((await fetch(`http://127.0.0.1:${port}/admin/queues`)).status).toBe(401);
      expect((await fetch(`http://127.0.0.1:${port}/admin/queues`, { headers: { authorization: basic(BOARD_USER, BOARD_PASSWORD) } })).status).toBe(200);
    } finally {
      await app.stop();
    }
  });
});
