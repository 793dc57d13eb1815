// Start-up and the CLI against services that are missing, refuse us or are not prepared: each ends
// with exit code 1 within 10 s, one line on stderr naming the variable and the fix, no stack trace,
// and the worker never says it started. Real processes; the services are a closed port, a database
// that does not exist, a fresh database nobody migrated, and a port someone else listens on.
import { createServer, type Server, type Socket } from "node:net";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabaseUrl } from "../support/db.js";
import { keysUnder, prefixesDeletedAfterEach, testRedisUrl } from "../support/redis.js";
import { runCli } from "../support/worker-process.js";
import { startTcpProxy } from "../support/tcp-proxy.js";
import { startOwnRedis } from "../support/redis-server.js";
import { Redis } from "ioredis";
import { PAUSE_LOCK_KEY } from "../../src/sweep/sql/pause-sweeps.js";

const BOUND_MS = 10_000;

/** A port nothing listens on: bound once by us, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const withDatabase = (name: string) => {
  const url = new URL(testDatabaseUrl());
  url.pathname = `/${name}`;
  return url.toString();
};

const fresh = `watchdog_unmigrated_${process.pid}_${Date.now()}`;
let occupied: Server;
let occupiedPort: number;

beforeAll(async () => {
  const admin = new pg.Client({ connectionString: testDatabaseUrl() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(fresh)}`);
  await admin.end();
  occupied = createServer();
  await new Promise<void>((resolve) => occupied.listen(0, "127.0.0.1", resolve));
  occupiedPort = (occupied.address() as { port: number }).port;
});

afterAll(async () => {
  await new Promise((resolve) => occupied.close(resolve));
  const admin = new pg.Client({ connectionString: testDatabaseUrl() });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(fresh)}`);
  await admin.end();
});

/** Every prefix a test's process was given: the file leaves no key under any of them. */
const owned = prefixesDeletedAfterEach();
const prefixOf = owned.next;
const prefixes = owned.all;
const baseEnv = () => ({ DATABASE_URL: testDatabaseUrl(), REDIS_URL: testRedisUrl(), QUEUE_PREFIX: prefixOf(), API_PORT: "0", OPS_PORT: "0", SWEEP_SCHEDULE_ENABLED: "false" });

async function fails(args: string[], env: Record<string, string>) {
  const started = Date.now();
  const cli = runCli(args, { ...baseEnv(), ...env });
  // A command that hangs is ended at the bound (ours: started here), and the exit below says so.
  const cut = setTimeout(() => cli.proc.kill("SIGKILL"), BOUND_MS);
  const exit = await cli.exited.finally(() => clearTimeout(cut));
  const elapsedMs = Date.now() - started;
  const problemLines = cli.stderr().trim().split("\n");
  expect(exit, cli.stderr()).toEqual({ code: 1, signal: null });
  expect(elapsedMs).toBeLessThan(BOUND_MS);
  expect(problemLines, cli.stderr()).toHaveLength(1);
  expect(cli.stderr()).not.toMatch(/^\s+at /m);
  expect(cli.stderr()).not.toContain("[ioredis]");
  expect(cli.lines().some((l) => l.msg === "watchdog started")).toBe(false);
  return problemLines[0]!;
}

describe("start-up against missing or unprepared services", () => {
  it("Redis unreachable: names REDIS_URL and says to start Redis", async () => {
    const port = await closedPort();
    expect(await fails(["start"], { REDIS_URL: `redis://127.0.0.1:${port}/0` })).toBe(
      `watchdog: Redis at 127.0.0.1:${port} (REDIS_URL) refused the connection (nothing listens there) (ECONNREFUSED): start Redis or point REDIS_URL at it`,
    );
  });

  it("Redis a read-only replica (REDIS_URL at the wrong node, or one demoted at a failover): names REDIS_URL and says to point it at the primary", async () => {
    const primary = await startOwnRedis();
    const replica = await startOwnRedis();
    const admin = new Redis(replica.url);
    try {
      await admin.replicaof("127.0.0.1", primary.port);
      expect(await fails(["start"], { REDIS_URL: replica.url })).toBe(
        `watchdog: Redis at 127.0.0.1:${replica.port} (REDIS_URL) is a read-only replica: point REDIS_URL at the primary`,
      );
    } finally {
      await admin.quit();
      await replica.stop();
      await primary.stop();
    }
  }, 30_000);

  it("PostgreSQL unreachable: names DATABASE_URL", async () => {
    const port = await closedPort();
    expect(await fails(["start"], { DATABASE_URL: `postgresql://postgres@127.0.0.1:${port}/x` })).toMatch(/^watchdog: PostgreSQL at 127\.0\.0\.1:\d+ \(DATABASE_URL\) refused the connection .*start PostgreSQL or point DATABASE_URL at it$/);
  });

  it("a database that does not exist: names it and says how to create it", async () => {
    expect(await fails(["start"], { DATABASE_URL: withDatabase("no_such_database_here") })).toMatch(/has no database "no_such_database_here": run `npm run db:migrate` \(it creates the database\) or fix the name in DATABASE_URL$/);
  });

  it("a database nobody migrated: says to run the migration", async () => {
    expect(await fails(["start"], { DATABASE_URL: withDatabase(fresh) })).toMatch(new RegExp(`the database "${fresh}" lacks \\d+ migration\\(s\\) \\(20261128000000_init.*\\): run \`npm run db:migrate\`$`));
  });

  it("a port in use: names the variable and the port", async () => {
    expect(await fails(["start"], { API_PORT: String(occupiedPort) })).toBe(
      `watchdog: API_HOST:API_PORT 127.0.0.1:${occupiedPort} is in use (EADDRINUSE): stop what listens there or choose another API_PORT`,
    );
  });

  it.each(["API", "OPS"])("%s_HOST that does not resolve: names the variable and the reason", async (which) => {
    // Credentials, so that an OPS_HOST beyond loopback passes the configuration check and reaches listen.
    expect(await fails(["start"], { [`${which}_HOST`]: "garbage", BULL_BOARD_USER: "ops", BULL_BOARD_PASSWORD: "p".repeat(32) })).toBe(
      `watchdog: ${which}_HOST=garbage: cannot listen (ENOTFOUND): set ${which}_HOST to an address of this machine, e.g. 127.0.0.1 (loopback) or 0.0.0.0 (every interface)`,
    );
  });

  it("`sweep --wait` and `reprocess` with Redis unreachable fail at once instead of hanging", async () => {
    const port = await closedPort();
    expect(await fails(["sweep", "--wait"], { REDIS_URL: `redis://127.0.0.1:${port}/0` })).toMatch(/^watchdog: Redis at .*\(REDIS_URL\) refused the connection/);
    expect(await fails(["reprocess", "--task-id", "1"], { DATABASE_URL: withDatabase(fresh) })).toMatch(/lacks \d+ migration/);
  });

  it("`migrate` against PostgreSQL unreachable is one line, not the pg error object", async () => {
    const port = await closedPort();
    expect(await fails(["migrate"], { DATABASE_URL: `postgresql://postgres@127.0.0.1:${port}/x` })).toMatch(/^watchdog: PostgreSQL at 127\.0\.0\.1:\d+ \(DATABASE_URL\) refused the connection/);
  });

  it("`status` with Redis unreachable names REDIS_URL and the fix", async () => {
    const port = await closedPort();
    expect(await fails(["status"], { REDIS_URL: `redis://127.0.0.1:${port}/0` })).toBe(
      `watchdog: Redis at 127.0.0.1:${port} (REDIS_URL) refused the connection (nothing listens there) (ECONNREFUSED): start Redis or point REDIS_URL at it`,
    );
  });

  it("`status` against a host that is not PostgreSQL (it hangs up) names DATABASE_URL and the fix", async () => {
    // It reads the client's start-up packet, then closes cleanly (a FIN, not a reset).
    const hangsUp = createServer((socket) => socket.once("data", () => socket.end()));
    await new Promise<void>((resolve) => hangsUp.listen(0, "127.0.0.1", resolve));
    const { port } = hangsUp.address() as { port: number };
    try {
      expect(await fails(["status"], { DATABASE_URL: `postgresql://postgres@127.0.0.1:${port}/x` })).toBe(
        `watchdog: PostgreSQL at 127.0.0.1:${port} (DATABASE_URL) closed the connection before answering: check that DATABASE_URL points at PostgreSQL (host and port)`,
      );
    } finally {
      await new Promise((resolve) => hangsUp.close(resolve));
    }
  });

  it("`stuck` on a database nobody migrated says to run the migration", async () => {
    expect(await fails(["stuck"], { DATABASE_URL: withDatabase(fresh) })).toMatch(/run `npm run db:migrate`$/);
  });
});

describe("every command that reads PostgreSQL, when it fails: one line naming DATABASE_URL, never the password", () => {
  const PASSWORD = "pw-5d1e9c";
  const at = (hostPort: string, user = "postgres") => `postgresql://${user}:${PASSWORD}@${hostPort}/x`;
  // One after another: each is a process of its own, and the bound is per process.
  const commands = [
    "tokens list",
    "tokens create --organization-id 9 --by alice",
    "webhooks revoke --organization-id 9 --by alice",
    "pause --reason probe --by alice",
    "resume --by alice",
    "events given-up",
    "events replay --event evt_1 --by alice --reason probe",
    "sweep --release 41 --by alice",
  ];
  /** One command per code path (tenants' connection, the Prisma client, the release), for the slower cases. */
  const onePerPath = [commands[0]!, commands[3]!, commands[5]!, commands[7]!];
  // A key, so that `events replay` gets past "no webhook endpoint is configured" to the database.
  const WEBHOOK_SECRETS_KEY = Buffer.alloc(32, 7).toString("base64");
  const clean = async (command: string, url: string) => {
    const line = await fails(command.split(" "), { DATABASE_URL: url, WEBHOOK_SECRETS_KEY });
    expect(line).not.toContain(PASSWORD);
    return line;
  };

  it.each(commands)("PostgreSQL unreachable: `%s`", async (command) => {
    expect(await clean(command, at("127.0.0.1:1"))).toBe(
      "watchdog: PostgreSQL at 127.0.0.1:1 (DATABASE_URL) refused the connection (nothing listens there) (ECONNREFUSED): start PostgreSQL or point DATABASE_URL at it",
    );
  }, 30_000);

  it.each(onePerPath)("a role that does not exist: `%s`", async (command) => {
    const url = new URL(testDatabaseUrl());
    expect(await clean(command, at(url.host, "nouser"))).toMatch(/^watchdog: PostgreSQL at .* \(DATABASE_URL\) refused the user or password of DATABASE_URL \(28000\): fix them in DATABASE_URL$/);
  }, 30_000);

  describe("a server that accepts and never answers (not PostgreSQL)", () => {
    let silent: Server;
    const sockets = new Set<Socket>();
    let port: number;
    beforeAll(async () => {
      silent = createServer((socket) => {
        sockets.add(socket);
        socket.on("close", () => sockets.delete(socket));
      });
      await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
      port = (silent.address() as { port: number }).port;
    });
    afterAll(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    });

    it.each([...onePerPath, "migrate"])("`%s` gives up within the bound", async (command) => {
      expect(await clean(command, at(`127.0.0.1:${port}`))).toBe(
        `watchdog: PostgreSQL at 127.0.0.1:${port} (DATABASE_URL) did not answer in time: check that it runs and DATABASE_URL points at it`,
      );
    }, 30_000);
  });
});

describe("a command that loses PostgreSQL after its check", () => {
  it("`pause` whose connection is ended mid-statement: one line naming DATABASE_URL, exit 1, no stack", async () => {
    // The test holds the pause lock, so the command's statement waits; its backend is then terminated.
    const holder = new pg.Client({ connectionString: testDatabaseUrl() });
    await holder.connect();
    try {
      await holder.query("BEGIN");
      await holder.query("SELECT pg_advisory_xact_lock($1::bigint)", [PAUSE_LOCK_KEY]);
      const cli = runCli(["pause", "--reason", "probe", "--by", "alice"], baseEnv());
      const cut = setTimeout(() => cli.proc.kill("SIGKILL"), BOUND_MS);
      let waiting: number | undefined;
      for (let i = 0; i < 400 && waiting === undefined && cli.proc.exitCode === null; i++) {
        // Inside a transaction pg_stat_activity is read once and kept: cleared, it is read afresh.
        await holder.query("SELECT pg_stat_clear_snapshot()");
        const { rows } = await holder.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'advisory' AND pid <> pg_backend_pid()");
        waiting = rows[0]?.pid;
        if (waiting === undefined) await new Promise((resolve) => setTimeout(resolve, 25));
      }
      expect(waiting, cli.stderr()).toBeDefined();
      await holder.query("SELECT pg_terminate_backend($1)", [waiting]);
      const exit = await cli.exited.finally(() => clearTimeout(cut));
      expect(exit, cli.stderr()).toEqual({ code: 1, signal: null });
      expect(cli.stderr()).not.toMatch(/^\s+at /m);
      expect(cli.stderr().trim().split("\n"), cli.stderr()).toHaveLength(1);
      expect(cli.stderr()).toMatch(/^watchdog: PostgreSQL at .* \(DATABASE_URL\) .*: the command stopped there; run it again once PostgreSQL answers\n$/);
    } finally {
      await holder.query("ROLLBACK").catch(() => undefined);
      await holder.end();
    }
  }, 30_000);
});

describe("signals during start-up", () => {
  it("SIGTERM while the worker starts is honoured: it stops as soon as it is up, cleanly", async () => {
    const cli = runCli(["start"], baseEnv());
    await cli.waitForLog("start-up: checking Redis, PostgreSQL and the schema");
    cli.proc.kill("SIGTERM");
    expect(await cli.exited).toEqual({ code: 0, signal: null });
    expect(cli.lines().some((l) => l.msg === "shut down cleanly"), JSON.stringify(cli.lines())).toBe(true);
  }, 30_000);

  it("SIGTERM while the start waits on a Redis that stopped answering after its check: the exit still comes within SHUTDOWN_TIMEOUT (124)", async () => {
    // The check's connection is forwarded; from the worker's first own connection on, nothing is.
    const redisUrl = new URL(testRedisUrl());
    const proxy = await startTcpProxy({ host: redisUrl.hostname, port: Number(redisUrl.port || 6379) });
    try {
      proxy.freezeAtConnection(2);
      const cli = runCli(["start"], { ...baseEnv(), REDIS_URL: proxy.url(testRedisUrl()), SHUTDOWN_TIMEOUT: "PT3S" });
      const cut = setTimeout(() => cli.proc.kill("SIGKILL"), BOUND_MS);
      await cli.waitForLog("start-up: checking Redis, PostgreSQL and the schema");
      await expect.poll(() => proxy.forwarded, { timeout: 5000 }).toBeGreaterThanOrEqual(2);
      const signalled = Date.now();
      cli.proc.kill("SIGTERM");
      const exit = await cli.exited.finally(() => clearTimeout(cut));
      expect(exit, JSON.stringify(cli.lines().slice(-3))).toEqual({ code: 124, signal: null });
      expect(Date.now() - signalled).toBeLessThan(3000 + 1500);
      expect(cli.lines().some((l) => l.msg === "watchdog started")).toBe(false);
    } finally {
      await proxy.close();
    }
  }, 30_000);
});

describe("afterwards", () => {
  it("no key is left under the prefixes the tests used (docs/development.md: each test deletes its keys)", async () => {
    expect(prefixes.length).toBeGreaterThan(5);
    expect(await keysUnder(prefixes)).toEqual([]);
  });
});
