// A redis-server of the test's own, on a free port, for outages the shared Redis must never see:
// `kill()` is a crash (SIGKILL, the data gone unless `appendonly`), `start()` brings it back on the
// same port — empty without persistence, as a Redis restarted by its orchestrator. Only this
// process's own server is ever signalled, by its PID.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { requireRedisBinaries } from "./redis-binaries.js";

export interface OwnRedis {
  readonly port: number;
  /** redis://127.0.0.1:<port>/0 */
  readonly url: string;
  /** Starts the server (again) on the same port and waits until it answers PING. */
  start(): Promise<void>;
  /** SIGKILL, and waits until the process has gone. Safe when not running. */
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT: the server keeps its sockets but answers nothing (a frozen dependency). */
  freeze(): void;
  thaw(): void;
  /** Kills the server and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** `persistent`: append-only file on, so a kill and start keeps the data (a crash, not a wipe). */
export async function startOwnRedis(options: { persistent?: boolean } = {}): Promise<OwnRedis> {
  requireRedisBinaries(["redis-server"]);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "wd-redis-"));
  let proc: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const start = async () => {
    if (proc) return;
    const args = ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", options.persistent ? "yes" : "no", "--appendfsync", "always"];
    const child = spawn("redis-server", args, { stdio: "ignore" });
    proc = child;
    exited = new Promise((resolve) => child.once("exit", () => resolve()));
    void exited.then(() => {
      if (proc === child) proc = undefined;
    });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const client = new Redis({ port, host: "127.0.0.1", lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      client.on("error", () => undefined);
      try {
        await client.connect();
        // Loading an append-only file answers LOADING until done: wait for a real PONG.
        if ((await client.ping()) === "PONG") return;
      } catch {
        if (Date.now() > deadline) throw new Error(`own redis-server on port ${port} did not answer within 10 s`);
      } finally {
        client.disconnect();
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const kill = async () => {
    const child = proc;
    if (!child) return;
    child.kill("SIGKILL");
    await exited;
  };
  let stopped: Promise<void> | undefined;

  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    start,
    kill,
    freeze: () => void proc?.kill("SIGSTOP"),
    thaw: () => void proc?.kill("SIGCONT"),
    stop: () =>
      (stopped ??= (async () => {
        proc?.kill("SIGCONT");
        await kill();
        rmSync(dir, { recursive: true, force: true });
      })()),
  };
}
