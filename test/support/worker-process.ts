// Runs the real CLI (`watchdog …`) as a child process from the TypeScript sources, the way an
// operator would run the built one. Collects its pino lines to wait on and assert against.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { testDatabaseUrl } from "./db.js";
import { testRedisUrl } from "./redis.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface CliProcess {
  proc: ChildProcess;
  lines: () => Record<string, unknown>[];
  stderr: () => string;
  waitForLog: (msg: string, timeoutMs?: number) => Promise<Record<string, unknown>>;
  /** The first log line (seen or to come) for which `matches` holds. */
  waitForLine: (matches: (line: Record<string, unknown>) => boolean, what: string, timeoutMs?: number) => Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * The processes started here and not yet exited. When the test process exits (even abruptly: a
 * timed-out test, a failed hook) they are killed with it, so no worker outlives its test and keeps
 * writing the keys the test deleted.
 */
const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/**
 * The environment of `watchdog start` as the tests run it: this run's database and Redis, keys under
 * `prefix`, both listeners on free ports, no scheduled sweep; `extra` adds to it.
 */
export function workerEnv(prefix: string, extra: Record<string, string> = {}): Record<string, string> {
  return { DATABASE_URL: testDatabaseUrl(), REDIS_URL: testRedisUrl(), QUEUE_PREFIX: prefix, API_PORT: "0", OPS_PORT: "0", SWEEP_SCHEDULE_ENABLED: "false", ...extra };
}

/** A test's afterEach: the processes it started that still run are killed (SIGKILL) and forgotten. */
export function killStillRunning(children: CliProcess[]): void {
  for (const c of children.splice(0)) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill("SIGKILL");
}

/** `imports`: modules (paths from the repository's root) preloaded after tsx, before the CLI: a test's fault injection. */
export function runCli(args: string[], env: Record<string, string>, options: { imports?: string[] } = {}): CliProcess {
  const preloads = (options.imports ?? []).flatMap((path) => ["--import", path]);
  const proc = spawn(process.execPath, ["--import", "tsx", ...preloads, "src/cli/main.ts", ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(proc);
  proc.on("exit", () => running.delete(proc));
  const parsed: Record<string, unknown>[] = [];
  let stdoutRest = "";
  let stderr = "";
  const waiters: { matches: (line: Record<string, unknown>) => boolean; resolve: (line: Record<string, unknown>) => void }[] = [];
  proc.stdout!.on("data", (chunk: Buffer) => {
    const text = stdoutRest + chunk.toString("utf8");
    const parts = text.split("\n");
    stdoutRest = parts.pop() ?? "";
    for (const part of parts) {
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(part);
      } catch {
        line = { msg: part, raw: true };
      }
      parsed.push(line);
      for (const w of waiters.filter((w) => w.matches(line))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  proc.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on("exit", (code, signal) => resolve({ code, signal })));
  const waitForLine = (matches: (line: Record<string, unknown>) => boolean, what: string, timeoutMs = 20_000): Promise<Record<string, unknown>> => {
    const seen = parsed.find(matches);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms; stderr: ${stderr}; stdout: ${JSON.stringify(parsed.slice(-5))}`)), timeoutMs);
      const done = (line: Record<string, unknown>) => {
        clearTimeout(timer);
        resolve(line);
      };
      waiters.push({ matches, resolve: done });
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`process exited before logging ${what}; stderr: ${stderr}`));
      });
    });
  };
  return {
    proc,
    lines: () => parsed,
    stderr: () => stderr,
    exited,
    waitForLog: (msg, timeoutMs = 20_000) => waitForLine((l) => l.msg === msg, `"${msg}" log line`, timeoutMs),
    waitForLine,
  };
}
