// A Redis failover under a running worker: the primary it connected to is demoted to a replica of
// another server (REPLICAOF, as Sentinel or a managed service does) and the address now leads to the
// new primary (a DNS name moved). The old primary keeps the worker's connections open and answers
// every write with READONLY, PING included fine: the worker must move to the new primary by itself.
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterEach, expect, it } from "vitest";
import { SWEEP_JOB, SWEEP_QUEUE } from "../../src/platform/queue-names.js";
import { testDatabaseUrl } from "../support/db.js";
import { startOwnRedis, type OwnRedis } from "../support/redis-server.js";
import { uniquePrefix } from "../support/redis.js";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.js";
import { killStillRunning, runCli, type CliProcess } from "../support/worker-process.js";

const closers: (() => Promise<unknown>)[] = [];
const workers: CliProcess[] = [];
afterEach(async () => {
  killStillRunning(workers);
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
});

it("after a failover (the old primary now a read-only replica, the address leading to the new one), a sweep asked of the new primary runs within 10 s, without a restart", async () => {
  const primary: OwnRedis = await startOwnRedis();
  closers.push(() => primary.stop());
  const next: OwnRedis = await startOwnRedis();
  closers.push(() => next.stop());
  const proxy: TcpProxy = await startTcpProxy({ host: "127.0.0.1", port: primary.port });
  closers.push(() => proxy.close());
  const prefix = uniquePrefix();
  const worker = runCli(["start"], {
    DATABASE_URL: testDatabaseUrl(),
    REDIS_URL: proxy.url(primary.url),
    QUEUE_PREFIX: prefix,
    API_PORT: "0",
    OPS_PORT: "0",
    SWEEP_SCHEDULE_ENABLED: "false",
    SHUTDOWN_TIMEOUT: "PT5S",
  });
  workers.push(worker);
  await worker.waitForLog("watchdog started");

  // The failover: new connections reach the new primary; the old one follows it, read-only.
  proxy.retarget({ host: "127.0.0.1", port: next.port });
  const demoted = new Redis(primary.url);
  closers.push(() => demoted.quit());
  await demoted.replicaof("127.0.0.1", next.port);
  await expect.poll(async () => /master_link_status:up/.test(await demoted.info("replication")), { timeout: 10_000, interval: 100 }).toBe(true);

  const sweeps = new Queue(SWEEP_QUEUE, { connection: { url: next.url }, prefix });
  closers.push(() => sweeps.close());
  const job = await sweeps.add(SWEEP_JOB, { dryRun: true });
  await expect
    .poll(async () => sweeps.getJobState(job.id!), { timeout: 10_000, interval: 200 })
    .toBe("completed");
  // The reconnects are said: a server that stayed a replica would not be a silent loop.
  expect(worker.lines().some((l) => l.msg === "redis connection error" && /READONLY/.test(JSON.stringify(l.err)))).toBe(true);

  worker.proc.kill("SIGTERM");
  expect((await worker.exited).code).toBe(0);
}, 60_000);
