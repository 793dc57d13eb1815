// A real Redis Cluster of three masters, started by the test on ports found at run time and
// stopped by the PIDs it started. Each node's data and nodes-P.conf live in a temporary directory.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { requireRedisBinaries } from "./redis-binaries.js";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface RedisCluster {
  /** REDIS_CLUSTER_NODES for these nodes: `127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3`. */
  readonly nodes: string;
  readonly ports: readonly number[];
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const cli = (port: number, ...args: string[]) => spawnSync("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...args], { encoding: "utf8", timeout: 10_000 });

async function until(what: string, timeoutMs: number, ok: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`Redis Cluster: ${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function startRedisCluster(): Promise<RedisCluster> {
  requireRedisBinaries();
  const dir = mkdtempSync(join(tmpdir(), "wd-redis-cluster-"));
  const procs: ChildProcess[] = [];
  const ports: number[] = [];
  const stop = async () => {
    await Promise.all(
      procs.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.exitCode !== null || p.signalCode !== null) return resolve();
            p.once("exit", () => resolve());
            process.kill(p.pid!, "SIGKILL");
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 3; i++) {
      // The cluster bus gets a port of its own: the default (port + 10000) may be taken or past 65535.
      const [port, busPort] = [await freePort(), await freePort()];
      const proc = spawn(
        "redis-server",
        ["--port", String(port), "--cluster-port", String(busPort), "--bind", "127.0.0.1", "--cluster-enabled", "yes", "--cluster-config-file", `nodes-${port}.conf`, "--dir", dir, "--save", "", "--appendonly", "no"],
        { stdio: "ignore" },
      );
      procs.push(proc);
      ports.push(port);
    }
    for (const port of ports) await until(`node ${port} did not answer PING`, 10_000, () => cli(port, "ping").stdout.trim() === "PONG");
    const create = spawnSync("redis-cli", ["--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "0", "--cluster-yes"], { encoding: "utf8", timeout: 30_000 });
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    for (const port of ports) await until(`node ${port} did not report cluster_state:ok`, 15_000, () => /cluster_state:ok/.test(cli(port, "cluster", "info").stdout));
    return { nodes: ports.map((p) => `127.0.0.1:${p}`).join(","), ports, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
