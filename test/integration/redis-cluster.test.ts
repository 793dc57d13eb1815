// The whole worker on a real Redis Cluster of three masters (started here, on ports of its own):
// REDIS_CLUSTER_NODES makes every connection an ioredis Cluster client; with a braced QUEUE_PREFIX
// each queue's keys share one slot. Scheduled and manual sweeps, reprocess, health and the board.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/platform/config/load-config.js";
import { ConfigError } from "../../src/platform/config/load-config.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { RESTART_PROCESSING_PATH } from "../../src/api/restart-processing.js";
import { createRedis, type RedisConnection } from "../../src/platform/redis.js";
import { createSweepQueue, enqueueSweep } from "../../src/sweep/sweep-queue.js";
import { getTask, insertTasks, resetTables, testDb } from "../support/db.js";
import { startRedisCluster, type RedisCluster } from "../support/redis-cluster.js";
import { testRedisUrl } from "../support/redis.js";
import { BOARD_PASSWORD, BOARD_USER, basic, ORG_7_TOKEN, sample, startApp, type RunningApp } from "./http-app.js";
import { runCli, workerEnv } from "../support/worker-process.js";

const db = testDb();
const H = 3600;
let cluster: RedisCluster;
let app: RunningApp;
let redis: RedisConnection;
/** REDIS_URL (credentials only) and REDIS_CLUSTER_NODES as the app has them, for the CLI. */
let clusterEnv: Record<string, string>;
const prefix = `{wdc-${randomBytes(4).toString("hex")}}`;

beforeAll(async () => {
  cluster = await startRedisCluster();
  await resetTables(db);
  // The seeds put the masters that do NOT own the prefix's slot first: a client that followed no
  // MOVED redirection (a standalone connection to the first node) would fail every command.
  const owner = await slotOwner(cluster.ports[0]!, prefix);
  const seeds = [...cluster.ports.filter((p) => p !== owner), owner].map((p) => `127.0.0.1:${p}`).join(",");
  // The scheduled sweep runs every second; the job scheduler lives in the cluster too.
  // REDIS_URL carries only the credentials here, and a cluster has database 0 only: whatever DB
  // index TEST_REDIS_URL names, the app is given /0.
  const credentials = new URL(testRedisUrl());
  credentials.pathname = "/0";
  clusterEnv = { REDIS_URL: credentials.toString(), REDIS_CLUSTER_NODES: seeds };
  app = await startApp({ ...clusterEnv, SWEEP_SCHEDULE_ENABLED: "true", SWEEP_INTERVAL: "PT1S" }, { prefix });
  redis = createRedis("redis://127.0.0.1:6379", { clusterNodes: cluster.ports.map((port) => ({ host: "127.0.0.1", port })) });
}, 60_000);
afterAll(async () => {
  await redis?.quit();
  await app?.stop();
  await cluster?.stop();
  await db.$disconnect();
});

/** The port of the master serving `key`'s hash slot. */
async function slotOwner(anyPort: number, key: string): Promise<number> {
  const node = createRedis(`redis://127.0.0.1:${anyPort}`);
  try {
    const slot = Number(await node.cluster("KEYSLOT", key));
    const ranges = (await node.cluster("SLOTS")) as unknown as [number, number, [string, number]][];
    const range = ranges.find(([from, to]) => slot >= from && slot <= to)!;
    return Number(range[2][1]);
  } finally {
    await node.quit();
  }
}

describe("on a Redis Cluster of three masters", () => {
  it("the scheduled sweep reverts a stuck task, and /metrics and /health/sweeps see the completed sweep", async () => {
    const [id] = await insertTasks(db, [{ status: S.ProcessingInProgress, ageSeconds: 5 * H }]);
    await expect.poll(async () => (await getTask(db, id!)).status, { timeout: 10_000, interval: 100 }).toBe(S.ProcessingFailed);
    await expect.poll(async () => sample(await (await fetch(`${app.opsUrl}/metrics`)).text(), "watchdog_last_sweep_completed_timestamp_seconds"), { timeout: 5000, interval: 100 }).toBeGreaterThan(0);
    const metrics = await (await fetch(`${app.opsUrl}/metrics`)).text();
    expect(sample(metrics, "watchdog_queue_jobs", { queue: "task-watchdog", state: "completed" })).toBeGreaterThan(0);
    expect(metrics).not.toMatch(/^watchdog_metrics_collect_errors_total\{/m);
    const health = await fetch(`${app.opsUrl}/health/sweeps`);
    expect(health.status).toBe(200);
  });

  it("watchdog status reads the last sweep from the cluster, not from REDIS_URL's host", async () => {
    await expect.poll(async () => sample(await (await fetch(`${app.opsUrl}/metrics`)).text(), "watchdog_last_sweep_completed_timestamp_seconds"), { timeout: 5000, interval: 100 }).toBeGreaterThan(0);
    const cli = runCli(["status", "--json"], workerEnv(prefix, clusterEnv));
    const { code } = await cli.exited;
    expect(cli.stderr()).toBe("");
    expect(code).toBe(0);
    const report = JSON.parse(cli.lines().map((l) => l.msg).join("\n")) as { lastSweep: { completedAt: string | null } };
    expect(report.lastSweep.completedAt).not.toBeNull();
  });

  it("a manual sweep job (a dry run) is taken and answered", async () => {
    const queue = createSweepQueue(redis, prefix);
    try {
      await insertTasks(db, [{ status: S.QueuedForExport, ageSeconds: 2 * H }]);
      const job = await enqueueSweep(queue, { dryRun: true });
      await expect.poll(() => job.getState(), { timeout: 10_000, interval: 50 }).toBe("completed");
      expect((await queue.getJob(job.id!))!.returnvalue).toMatchObject({ dryRun: true });
    } finally {
      await queue.close();
    }
  });

  it("PATCH restartprocessing enqueues on the cluster and the worker reprocesses the task", async () => {
    const [id] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 60, organizationId: 7 }]);
    const response = await fetch(`${app.apiUrl}${RESTART_PROCESSING_PATH}?taskId=${id}`, { method: "PATCH", headers: { authorization: `Bearer ${ORG_7_TOKEN}` } });
    expect(response.status).toBe(202);
    await expect.poll(async () => (await getTask(db, id!)).restart_count, { timeout: 10_000, interval: 100 }).toBe(1);
    expect((await getTask(db, id!)).status).toBe(S.QueuedForPreProcessing);
  });

  it("/readyz answers ready and the board lists both queues", async () => {
    const ready = await fetch(`${app.opsUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ checks: { redis: "ok", postgres: "ok" } });
    const api = await fetch(`${app.opsUrl}/admin/queues/api/queues`, { headers: { authorization: basic(BOARD_USER, BOARD_PASSWORD) } });
    expect(api.status).toBe(200);
    const { queues } = (await api.json()) as { queues: { name: string }[] };
    expect(queues.map((q) => q.name).sort()).toEqual(["task-reprocess", "task-watchdog"]);
  });

  it("every key of the deployment lives in the prefix's one slot", async () => {
    const slots = new Set<number>();
    for (const port of cluster.ports) {
      const node = createRedis(`redis://127.0.0.1:${port}`);
      try {
        for (const key of await node.keys("*")) slots.add(Number(await node.cluster("KEYSLOT", key)));
      } finally {
        await node.quit();
      }
    }
    expect([...slots]).toEqual([Number(await (redis as { cluster(...args: string[]): Promise<unknown> }).cluster("KEYSLOT", prefix))]);
  });
});

describe("with REDIS_CLUSTER_NODES set", () => {
  it("an unbraced QUEUE_PREFIX and a database index are refused at load, by name", () => {
    const load = () => loadConfig({ REDIS_CLUSTER_NODES: "127.0.0.1:7000,127.0.0.1:7001", QUEUE_PREFIX: "bull", REDIS_URL: "redis://127.0.0.1:7000/2" });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/QUEUE_PREFIX="bull" must start with a braced hash tag.*QUEUE_PREFIX=\{watchdog\}/);
    expect(load).toThrow(/REDIS_URL selects database 2; a Redis Cluster has database 0 only/);
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: "127.0.0.1:7000", QUEUE_PREFIX: "{watchdog}" })).not.toThrow();
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: "127.0.0.1" })).toThrow(/REDIS_CLUSTER_NODES="127.0.0.1" must be a comma-separated list of host:port/);
  });
});
