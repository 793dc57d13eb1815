// PostgreSQL that stops answering after a command's check passed (a proxy that freezes the
// command's second connection, test/support/tcp-proxy.ts): each command ends within its
// DATABASE_CONNECT_TIMEOUT / DATABASE_STATEMENT_TIMEOUT with one line naming DATABASE_URL, exit 1
// (docs/cli.md), never a stack trace, never a wait on the defaults.
import { afterEach, describe, expect, it } from "vitest";
import { testDatabaseUrl } from "../support/db.js";
import { uniquePrefix } from "../support/redis.js";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.js";
import { killStillRunning, runCli, workerEnv, type CliProcess } from "../support/worker-process.js";

const children: CliProcess[] = [];
let proxy: TcpProxy | undefined;
afterEach(async () => {
  killStillRunning(children);
  proxy?.restore();
  await proxy?.close();
  proxy = undefined;
});

/** Runs `args` against a PostgreSQL whose second connection (the one after the check) never answers. */
async function frozenAfterCheck(args: string[]): Promise<{ code: number | null; stderr: string; ms: number }> {
  proxy = await startTcpProxy();
  proxy.freezeAtConnection(2);
  const started = performance.now();
  const cli = runCli(args, workerEnv(uniquePrefix(), { DATABASE_URL: proxy.url(testDatabaseUrl()), DATABASE_CONNECT_TIMEOUT: "PT1S", DATABASE_STATEMENT_TIMEOUT: "PT1S", WEBHOOK_SECRETS_KEY: Buffer.alloc(32, 1).toString("base64") }));
  children.push(cli);
  const { code } = await cli.exited;
  return { code, stderr: cli.stderr(), ms: performance.now() - started };
}

describe("PostgreSQL frozen after the command's check", () => {
  it.each([[["tokens", "list"]], [["webhooks", "list"]]])("%j: one line naming DATABASE_URL, exit 1", async (args) => {
    const out = await frozenAfterCheck(args);
    expect(out.stderr).toMatch(/^watchdog: PostgreSQL at 127\.0\.0\.1:\d+ \(DATABASE_URL\) did not answer in time/);
    expect(out.stderr.trim().split("\n"), out.stderr).toHaveLength(1);
    expect(out.code).toBe(1);
  }, 30_000);

  // DATABASE_CONNECT_TIMEOUT and DATABASE_STATEMENT_TIMEOUT bound every command's connection, as `stuck`'s.
  it.each([[["stuck"]], [["status"]], [["events", "given-up"]], [["pause", "--reason", "r", "--by", "b"]], [["resume", "--by", "b"]]])(
    "%j gives up within DATABASE_CONNECT_TIMEOUT (PT1S here), not the default 10 s",
    async (args) => {
      const out = await frozenAfterCheck(args);
      expect(out.stderr).toMatch(/^watchdog: PostgreSQL at 127\.0\.0\.1:\d+ \(DATABASE_URL\) did not answer in time/);
      expect(out.code).toBe(1);
      expect(out.ms).toBeLessThan(6000);
    },
    30_000,
  );
});
