// The `watchdog` command's conventions (docs/cli.md): --version, ISO-8601 --timeout with its
// default written as a duration, argument errors as one line with exit code 2, JSON that names
// statuses and codes.
import { readFileSync } from "node:fs";
import { Worker } from "bullmq";
import { describe, expect, it } from "vitest";
import { SWEEP_QUEUE } from "../../src/platform/queue-names.js";
import { testDatabaseUrl } from "../support/db.js";
import { deletePrefix, testRedisUrl, uniquePrefix } from "../support/redis.js";
import { runCli } from "../support/worker-process.js";

const env = () => ({ DATABASE_URL: testDatabaseUrl(), REDIS_URL: testRedisUrl(), QUEUE_PREFIX: uniquePrefix(), LOG_LEVEL: "silent" });

async function run(args: string[]) {
  const cli = runCli(args, env());
  const exit = await cli.exited;
  return { code: exit.code, stderr: cli.stderr(), stdout: cli.lines().map((l) => (l.raw ? l.msg : JSON.stringify(l))).join("\n") };
}

describe.concurrent("watchdog", () => {
  it("--version prints the package's version and exits 0", async () => {
    const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
    expect(await run(["--version"])).toMatchObject({ code: 0, stdout: version, stderr: "" });
  });

  it.each([
    [["sweep", "--bogus"], "watchdog: unknown option '--bogus'; see `watchdog sweep --help`\n"],
    [["sweep", "--timeout", "60000"], /^watchdog: option '--timeout <duration>' argument '60000' is invalid\. the duration is not an ISO-8601 duration.*; see `watchdog sweep --help`\n$/],
    [["reprocess", "--task-id", "x"], /^watchdog: option '--task-id <id>' argument 'x' is invalid\. .*; see `watchdog reprocess --help`\n$/],
    [["no-such-command"], "watchdog: unknown command 'no-such-command'; see `watchdog --help`\n"],
  ])("an argument error (%j) is one line pointing at --help, with exit code 2", async (args, message) => {
    const out = await run(args);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(message);
    expect(out.stderr).not.toContain("Usage:");
  });

  it.each([
    [["reprocess", "--task-id", "1", "--task-id", "2"], "--task-id is given 2 times; give it once"],
    [["reprocess", "--task-id=1", "--wait", "--task-id", "2", "--task-id", "3"], "--task-id is given 3 times; give it once"],
    [["pause", "--rule", "41", "--rule", "31", "--reason", "x", "--by", "y"], "--rule is given 2 times; give it once"],
    [["bulk-reprocess", "start", "--organization-id", "1", "--organization-id", "2", "--task-ids", "1", "--dry-run"], "--organization-id is given 2 times; give it once"],
    [["tokens", "rotate", "--id", "1", "--by", "x", "--overlap", "P1D", "--overlap", "P2D"], "--overlap is given 2 times; give it once"],
  ])("a single-valued option given twice (%j) is refused with exit code 2, before anything is done", async (args, message) => {
    const out = await run(args);
    expect(out).toMatchObject({ code: 2, stdout: "" });
    expect(out.stderr).toBe(`watchdog: ${message}; see \`watchdog ${args[0]} --help\`\n`);
  });

  it.each([
    [["tokens", "rotate", "--id", "1", "--by", "x", "--overlap", "P1D", "--overlap-none"]],
    [["webhooks", "rotate", "--organization-id", "1", "--overlap-none", "--overlap", "PT1H"]],
  ])("rotate refuses --overlap with --overlap-none (%j), naming both", async (args) => {
    const out = await run(args);
    expect(out).toMatchObject({ code: 2, stdout: "" });
    expect(out.stderr).toMatch(/^watchdog: option '--overlap(-none)?( <duration>)?' cannot be used with option '--overlap(-none)?( <duration>)?'; see `watchdog (tokens|webhooks) --help`\n$/);
    expect(out.stderr).toContain("--overlap <duration>");
    expect(out.stderr).toContain("--overlap-none");
  });

  it.each([
    [["sweep", "--release", "ProcessingInProgress", "--release", "Deleting", "--reason", "x"], "watchdog: BadRequest: --release needs --by <name>"],
    [["events", "replay", "--event", "evt_1", "--event", "evt_2", "--reason", "x"], "watchdog: BadRequest: --by is missing; it must be a string"],
  ])("a list option meant to repeat (%j) still takes every occurrence", async (args, message) => {
    const out = await run(args);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain(message);
    expect(out.stderr).not.toContain("give it once");
  });

  it.each([
    [["sweep", "--timeout", "PT5M"], "sweep"],
    [["reprocess", "--task-id", "1", "--timeout=PT5M"], "reprocess"],
  ])("%j: --timeout without --wait is refused (exit 2), nothing is enqueued: it bounds only the wait", async (args, command) => {
    const out = await run(args);
    expect(out.code).toBe(2);
    expect(out.stderr).toBe(`watchdog: --timeout bounds the wait of --wait; give --wait too, or leave --timeout out; see \`watchdog ${command} --help\`\n`);
    expect(out.stdout).toBe("");
  });

  it("every subcommand the docs name (`watchdog webhooks create|list|…`) is one", async () => {
    const docs = ["README.md", ...["cli.md", "configuration.md", "events.md", "operations.md", "reprocess.md", "deployment.md"].map((f) => `docs/${f}`)]
      .map((f) => readFileSync(new URL(`../../${f}`, import.meta.url), "utf8"))
      .join("\n");
    for (const group of ["tokens", "webhooks", "events", "bulk-reprocess"]) {
      const help = await run([group, "--help"]);
      const commands = new Set([...help.stdout.split("Commands:")[1]!.matchAll(/^ {2}([a-z-]+)/gm)].map((m) => m[1]!));
      const named = [...docs.matchAll(new RegExp(`watchdog ${group} ([a-z-]+(?:\\|[a-z-]+)*)`, "g"))].flatMap((m) => m[1]!.split("|"));
      expect(named.length, group).toBeGreaterThan(0);
      expect(named.filter((name) => !commands.has(name)), `watchdog ${group}`).toEqual([]);
    }
  });

  it("--timeout is an ISO-8601 duration everywhere, its default written as one", async () => {
    expect((await run(["sweep", "--help"])).stdout).toMatch(/--timeout <duration>[\s\S]*\(default: PT1M\)/);
    expect((await run(["reprocess", "--help"])).stdout).toMatch(/--timeout <duration>[\s\S]*\(default: PT30S\)/);
  });

  it("start --help names everything the worker serves", async () => {
    const help = (await run(["start", "--help"])).stdout.replace(/\s+/g, " ");
    for (const served of ["task-watchdog", "task-reprocess", "/healthz", "/readyz", "/health/sweeps", "/metrics", "/admin/queues", "restartprocessing", "SHUTDOWN_TIMEOUT"]) {
      expect(help).toContain(served);
    }
  });

  it("rules --json names each status and its code, as stuck --json does", async () => {
    const out = await run(["rules", "--json"]);
    expect(out.code).toBe(0);
    const rules = JSON.parse(out.stdout) as Record<string, unknown>[];
    expect(rules.find((r) => r.code === 41)).toMatchObject({ status: "ProcessingInProgress", stuckAfter: "PT4H", action: { kind: "revert", to: "ProcessingFailed", toCode: 42 } });
    expect(rules.find((r) => r.code === 70)).toMatchObject({ status: "Processed", action: { kind: "moveToHistory" } });
  });

  it("migrate prints the database without its password, also one given in the query (?password=, which pg honours)", async () => {
    const url = new URL(testDatabaseUrl());
    url.searchParams.set("password", "s3cret-QUERY-77");
    url.searchParams.set("sslpassword", "s3cret-SSL-88");
    const cli = runCli(["migrate"], { ...env(), DATABASE_URL: url.toString() });
    expect((await cli.exited).code).toBe(0);
    const printed = JSON.stringify(cli.lines());
    expect(printed).toContain('"alreadyApplied"');
    expect(printed).not.toContain("s3cret-QUERY-77");
    expect(printed).not.toContain("s3cret-SSL-88");
  });
});

describe("watchdog sweep --wait", () => {
  it("a job that failed with \"timed out\" in its reason is reported as failed, not as a wait that timed out (no worker)", async () => {
    const prefix = uniquePrefix();
    // A worker that runs the job and fails it, its reason saying "timed out" (ioredis' "Command timed out", say).
    const worker = new Worker(SWEEP_QUEUE, async () => {
      throw new Error("Command timed out");
    }, { connection: { url: testRedisUrl() }, prefix });
    try {
      const cli = runCli(["sweep", "--wait", "--timeout", "PT20S"], { ...env(), QUEUE_PREFIX: prefix });
      const exit = await cli.exited;
      expect(cli.stderr()).toMatch(/^watchdog: sweep job \S+ failed: Command timed out\n$/);
      expect(exit.code).toBe(1);
    } finally {
      await worker.close();
      await deletePrefix(prefix);
    }
  }, 40_000);

  it("a job the worker refused with BadRequest: (its rules differ from the command's) exits 2, as docs/cli.md's table says", async () => {
    const prefix = uniquePrefix();
    const worker = new Worker(SWEEP_QUEUE, async () => {
      throw new Error("BadRequest: release[0] \"ExportInProgress\" has no rule");
    }, { connection: { url: testRedisUrl() }, prefix });
    try {
      const cli = runCli(["sweep", "--wait", "--timeout", "PT20S"], { ...env(), QUEUE_PREFIX: prefix });
      const exit = await cli.exited;
      expect(cli.stderr()).toMatch(/^watchdog: sweep job \S+ failed: BadRequest: release\[0\]/);
      expect(exit.code).toBe(2);
    } finally {
      await worker.close();
      await deletePrefix(prefix);
    }
  }, 40_000);
});
