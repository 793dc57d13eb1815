// Secrets in logs, tested where they really travel: a Redis of our own with --requirepass, and a
// wrong password that contains "@" and '"'. Neither the worker's logs, nor the CLI's stderr, nor
// an ioredis error object logged through our logger may show it.
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/platform/logger.js";
import { throttledErrorLog } from "../../src/platform/log-safety.js";
import { createRedis } from "../../src/platform/redis.js";
import { requireRedisBinaries } from "../support/redis-binaries.js";
import { testDatabaseUrl } from "../support/db.js";
import { uniquePrefix } from "../support/redis.js";
import { runCli } from "../support/worker-process.js";

const REAL_PASSWORD = "real-Secret-9c1e";
const WRONG_PASSWORD = 'wr@ng"Pass-7f3a';
let redis: ChildProcess;
let port: number;
const urlWith = (password: string) => `redis://default:${encodeURIComponent(password)}@127.0.0.1:${port}/0`;

beforeAll(async () => {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  port = (probe.address() as { port: number }).port;
  await new Promise((resolve) => probe.close(resolve));
  requireRedisBinaries(["redis-server"]);
  redis = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--requirepass", REAL_PASSWORD, "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  const client = createRedis(urlWith(REAL_PASSWORD), { lazyConnect: true, retryStrategy: () => 50 });
  client.on("error", () => undefined);
  for (let i = 0; i < 100; i++) {
    try {
      await client.connect();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  await client.ping();
  client.disconnect();
});

afterAll(() => {
  redis.kill("SIGKILL");
});

const leaks = (text: string) => [WRONG_PASSWORD, encodeURIComponent(WRONG_PASSWORD), "wr@ng", 'ng\\"Pass', "Pass-7f3a"].filter((s) => text.includes(s));

describe("a Redis that refuses the password", () => {
  it("an ioredis error logged through the logger shows neither the AUTH arguments nor the password", async () => {
    let out = "";
    const logger = createLogger({ level: "debug", destination: new Writable({ write: (c, _e, done) => ((out += String(c)), done()) }) });
    const client = createRedis(urlWith(WRONG_PASSWORD), { retryStrategy: () => 20 });
    const seen: unknown[] = [];
    const log = throttledErrorLog(logger, "redis connection error", {}, 60_000);
    client.on("error", (error: unknown) => {
      seen.push(error);
      log(error);
      logger.error({ err: error }, "every error, unthrottled");
    });
    while (seen.length < 5) await new Promise((r) => setTimeout(r, 20));
    client.disconnect();
    // The library really does carry the password on its error: the serializer is what keeps it out.
    expect(JSON.stringify(seen.map((e) => ({ ...(e as object) })))).toContain("Pass-7f3a");
    expect(out).toContain('"msg":"every error, unthrottled"');
    expect(leaks(out)).toEqual([]);
    // Throttled: the first error once, the repeats only as a later summary.
    expect(out.split("\n").filter((l) => l.includes('"msg":"redis connection error"'))).toHaveLength(1);
  });

  it("the worker and the CLI say the credentials were refused, in one line that does not show them", async () => {
    const env = { DATABASE_URL: testDatabaseUrl(), REDIS_URL: urlWith(WRONG_PASSWORD), QUEUE_PREFIX: uniquePrefix(), API_PORT: "0", OPS_PORT: "0", SWEEP_SCHEDULE_ENABLED: "false" };
    for (const args of [["start"], ["sweep", "--wait"]]) {
      const cli = runCli(args, env);
      expect(await cli.exited).toEqual({ code: 1, signal: null });
      expect(cli.stderr()).toBe(`watchdog: Redis at 127.0.0.1:${port} (REDIS_URL) refused the credentials: fix the user and password in REDIS_URL\n`);
      expect(leaks(cli.stderr() + JSON.stringify(cli.lines()))).toEqual([]);
    }
  }, 30_000);
});
