// The npm wrappers as docs/cli.md shows them: `npm run -s watchdog -- … --json` prints pure JSON
// (pipes into jq), and SIGTERM to the `npm start` process stops the worker (no orphan left serving).
// Runs the built CLI, so it builds dist/ first (as `npm run build` would, without the client generation).
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Queue } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TaskStatus as S } from "../../src/rules/status.js";
import { REPROCESS_JOB, REPROCESS_QUEUE } from "../../src/platform/queue-names.js";
import { SAME_SIGNAL_WINDOW_MS } from "../../src/worker-process.js";
import { holdTransaction, insertTasks, resetTables, testDatabaseUrl, testDb } from "../support/db.js";
import { deletePrefix, testRedisUrl, uniquePrefix } from "../support/redis.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const env = (prefix: string) => ({
  PATH: process.env.PATH ?? "",
  HOME: process.env.HOME ?? "/tmp",
  DATABASE_URL: testDatabaseUrl(),
  REDIS_URL: testRedisUrl(),
  QUEUE_PREFIX: prefix,
  API_PORT: "0",
  OPS_PORT: "0",
  SWEEP_SCHEDULE_ENABLED: "false",
  LOG_LEVEL: "info",
});

/** PIDs whose parent is `pid` (Linux /proc). */
function childrenOf(pid: number): number[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        // "pid (comm) state ppid …": comm may hold spaces, so split after the closing parenthesis.
        return Number(readFileSync(`/proc/${d}/stat`, "utf8").split(") ")[1]!.split(" ")[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

beforeAll(() => {
  execFileSync(process.execPath, [fileURLToPath(new URL("../../node_modules/typescript/bin/tsc", import.meta.url)), "-p", "tsconfig.build.json"], { cwd: ROOT, stdio: "ignore" });
  // As `npm run build` does: tsc writes the bin without its executable bit, and npx runs it directly.
  chmodSync(join(ROOT, "dist/cli/main.js"), 0o755);
}, 120_000);

describe("npm scripts", () => {
  it.each([
    ["npm", ["run", "-s", "watchdog", "--", "rules", "--json"]],
    ["npx", ["--no-install", "watchdog", "rules", "--json"]],
  ])("`%s %s` prints JSON and nothing else on stdout", (command, args) => {
    const run = spawnSync(command, args, { cwd: ROOT, env: env(uniquePrefix()), encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    expect(run.status, run.stderr).toBe(0);
    const stdout = run.stdout;
    expect(() => JSON.parse(stdout)).not.toThrow();
    expect(JSON.parse(stdout)).toEqual(expect.arrayContaining([expect.objectContaining({ status: "ProcessingInProgress", code: 41 })]));
  }, 30_000);

  it("SIGTERM to the `npm start` process stops the worker it started", async () => {
    const prefix = uniquePrefix();
    const npm = spawn("npm", ["start"], { cwd: ROOT, env: env(prefix), stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    npm.stdout!.on("data", (c: Buffer) => (out += c.toString("utf8")));
    npm.stderr!.on("data", (c: Buffer) => (out += c.toString("utf8")));
    const npmExited = new Promise((resolve) => npm.on("exit", resolve));
    let worker: number[] = [];
    try {
      for (let i = 0; !out.includes('"msg":"watchdog started"'); i++) {
        if (i > 600) throw new Error(`no "watchdog started" within 30 s: ${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const descendants = (pid: number): number[] => childrenOf(pid).flatMap((c) => [c, ...descendants(c)]);
      worker = descendants(npm.pid!);
      expect(worker.length).toBeGreaterThan(0);
      npm.kill("SIGTERM");
      for (let i = 0; worker.some(alive) && i < 300; i++) await new Promise((r) => setTimeout(r, 50));
      expect(worker.filter(alive), `still running after SIGTERM to npm: ${out}`).toEqual([]);
      expect(out).toContain('"msg":"shut down cleanly"');
      await npmExited;
    } finally {
      for (const pid of worker) if (alive(pid)) process.kill(pid, "SIGKILL");
      if (alive(npm.pid!)) npm.kill("SIGKILL");
      await deletePrefix(prefix);
    }
  }, 60_000);

  // A terminal's Ctrl-C reaches every process of the foreground group: npm gets it AND forwards it to
  // the worker, which so receives two SIGINTs at once. That is one request, not a second one.
  it("one Ctrl-C (SIGINT to the process group of `npm start`) is one graceful shutdown: exit 0, nothing forced", async () => {
    const run = startInGroup();
    try {
      await run.until('"msg":"watchdog started"');
      process.kill(-run.npm.pid!, "SIGINT");
      expect(await run.exited).toMatchObject({ code: 0 });
      expect(run.out()).toContain('"msg":"shut down cleanly"');
      expect(run.out()).not.toContain("forcing exit");
    } finally {
      await run.stop();
    }
  }, 60_000);

  it("a second Ctrl-C seconds later, while a request is still draining, forces the exit (130)", async () => {
    const db = testDb();
    await resetTables(db);
    const run = startInGroup();
    const queue = new Queue(REPROCESS_QUEUE, { connection: { url: testRedisUrl() }, prefix: run.prefix });
    const [id] = await insertTasks(db, [{ status: S.ExportFailed, ageSeconds: 60 }]);
    // The request's UPDATE waits behind this lock: the graceful shutdown waits for it.
    const blocker = await holdTransaction("LOCK TABLE tasks IN SHARE MODE");
    try {
      await run.until('"msg":"watchdog started"');
      const job = await queue.add(REPROCESS_JOB, { taskId: id, requestedBy: "test" });
      await expect.poll(() => job.getState(), { timeout: 10_000, interval: 50 }).toBe("active");
      process.kill(-run.npm.pid!, "SIGINT");
      await run.until('"msg":"shutting down');
      // "A few seconds later": past the window in which duplicates of the first signal are ignored.
      await new Promise((r) => setTimeout(r, SAME_SIGNAL_WINDOW_MS + 500));
      process.kill(-run.npm.pid!, "SIGINT");
      // npm exits with its script's code.
      expect(await run.exited).toMatchObject({ code: 130 });
      expect(run.out()).toContain("second signal: forcing exit");
    } finally {
      await blocker.release();
      await queue.close();
      await run.stop();
      await db.$disconnect();
    }
  }, 60_000);
});

/** `npm start` as a terminal's foreground job: a process group of its own (signal it with -pgid). */
function startInGroup() {
  const prefix = uniquePrefix();
  const npm = spawn("npm", ["start"], { cwd: ROOT, env: env(prefix), stdio: ["ignore", "pipe", "pipe"], detached: true });
  let out = "";
  npm.stdout!.on("data", (c: Buffer) => (out += c.toString("utf8")));
  npm.stderr!.on("data", (c: Buffer) => (out += c.toString("utf8")));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => npm.on("exit", (code, signal) => resolve({ code, signal })));
  let worker: number[] = [];
  const descendants = (pid: number): number[] => childrenOf(pid).flatMap((c) => [c, ...descendants(c)]);
  return {
    npm: npm as ChildProcess,
    prefix,
    exited,
    out: () => out,
    async until(text: string) {
      for (let i = 0; !out.includes(text); i++) {
        if (i > 600) throw new Error(`no ${JSON.stringify(text)} within 30 s: ${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      if (worker.length === 0) worker = descendants(npm.pid!);
    },
    async stop() {
      for (const pid of worker) if (alive(pid)) process.kill(pid, "SIGKILL");
      if (alive(npm.pid!)) npm.kill("SIGKILL");
      await deletePrefix(prefix);
    },
  };
}
