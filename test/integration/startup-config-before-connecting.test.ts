// Configuration mistakes are reported as such, before the worker connects anywhere — also when the
// services are down, which is when an operator is most likely to read the message. Real processes.
import { createServer } from "node:net";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { testDatabaseUrl } from "../support/db.js";
import { testRedisUrl, uniquePrefix } from "../support/redis.js";
import { runCli } from "../support/worker-process.js";

/** A port nothing listens on: bound once by us, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const baseEnv = () => ({ DATABASE_URL: testDatabaseUrl(), REDIS_URL: testRedisUrl(), QUEUE_PREFIX: uniquePrefix(), API_PORT: "0", OPS_PORT: "0", SWEEP_SCHEDULE_ENABLED: "false" });

async function start(env: Record<string, string>) {
  const cli = runCli(["start"], { ...baseEnv(), ...env });
  // A worker that starts anyway is stopped at once, so the test fails instead of timing out.
  cli.waitForLog("watchdog started", 20_000).then(
    () => cli.proc.kill("SIGTERM"),
    () => undefined,
  );
  const exit = await cli.exited;
  return { exit, stderr: cli.stderr(), started: cli.lines().some((l) => l.msg === "watchdog started"), checking: cli.lines().some((l) => String(l.msg).startsWith("start-up: checking")) };
}

describe("an exposed ops listener without board credentials", () => {
  it.each([
    ["Redis down", async () => ({ REDIS_URL: `redis://127.0.0.1:${await closedPort()}/0` })],
    ["PostgreSQL down", async () => ({ DATABASE_URL: `postgresql://postgres@127.0.0.1:${await closedPort()}/x` })],
    ["both up", async () => ({})],
  ])("with %s: exit 1 naming OPS_HOST and the credentials, before any service is checked", async (_, services) => {
    const out = await start({ OPS_HOST: "0.0.0.0", ...(await services()) });
    expect(out.exit).toEqual({ code: 1, signal: null });
    expect(out.stderr).toMatch(/^watchdog: invalid configuration:\n\s+- OPS_HOST="0\.0\.0\.0" exposes the ops listener .* set BULL_BOARD_USER and BULL_BOARD_PASSWORD/);
    expect(out.stderr).not.toMatch(/REDIS_URL|DATABASE_URL|refused the connection/);
    expect(out).toMatchObject({ started: false, checking: false });
  });
});

describe("REDIS_URL naming a database index the server does not have", () => {
  it("redis://…/99: exit 1 with one line naming REDIS_URL and the index, never starting on database 0", async () => {
    const url = new URL(testRedisUrl());
    url.pathname = "/99";
    const prefix = uniquePrefix();
    const out = await start({ REDIS_URL: url.toString(), QUEUE_PREFIX: prefix });
    expect(out.exit).toEqual({ code: 1, signal: null });
    expect(out.stderr.trim().split("\n")).toHaveLength(1);
    expect(out.stderr).toMatch(/^watchdog: REDIS_URL selects database 99, which this Redis server does not have/);
    expect(out.stderr).not.toMatch(/^\s+at /m);
    expect(out.started).toBe(false);
    // Nothing of ours was written to database 0 (where ioredis goes on after a failed SELECT).
    url.pathname = "/0";
    const db0 = new Redis(url.toString());
    try {
      expect(await db0.keys(`${prefix}:*`)).toEqual([]);
    } finally {
      await db0.quit();
    }
  });
});
