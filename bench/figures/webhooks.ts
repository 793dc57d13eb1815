// Recovery with the outbox on vs off: the same incident (`stuck` tasks stuck in
// ProcessingInProgress) drained by runSweep, once with nothing else running and once while the
// production outbox (startOutbox: dispatch, the events queue, 50 organizations' webhooks signed and
// delivered WEBHOOK_ENDPOINT_CONCURRENCY at a time) delivers every event to a local HTTP receiver.
// The sweep's statements are the same either way (no trigger). The outbox gives way while a sweep
// of its process runs (its `sweeps`, as startWatchdog wires them to the sweep worker) and delivers
// as soon as it ends: the figure shows that the recovery keeps its speed; the delivery rate (events
// delivered per second from the end of the sweep to the last one received) shows how fast the
// events follow. The delivery rate is measured twice: with webhooks alone (the target's figure: the
// webhook path), and with the events queue relayed by the same process at the same time. On the
// bench's machine the receiver, PostgreSQL and Redis share its cores with the relay, so the CPU each
// of them spends per event is reported beside it: their sum bounds what any relay could deliver here.
import http from "node:http";
import { readFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import { Pool } from "undici";
import { pino } from "pino";
import type { Redis } from "ioredis";
import type pg from "pg";
import type { Db } from "../../src/platform/db/client.js";
import type { Rule } from "../../src/rules/rules.js";
import { createEventsQueue } from "../../src/outbox/queues.js";
import { runOutbox } from "../../src/outbox/outbox.js";
import { benchOutboxSettings } from "../outbox-fixture.js";
import { runSweep } from "../../src/sweep/run-sweep.js";
import { activityCount } from "../../src/platform/component.js";
import { Registry } from "prom-client";
import { countEvents, stage } from "../incident.js";
import { sample, type Sample, timeMs, warm } from "../measure.js";
import { processCpuMs, startCpuMeter } from "../cpu.js";

const ORGANIZATIONS = Array.from({ length: 50 }, (_, i) => i + 1); // bench/seed.ts: 1 + id % 50

export interface WebhookRecovery {
  /** Tasks per second, median over repetitions. */
  off: Sample;
  on: Sample;
  /** Events delivered per second to the receiver after the sweep ended, webhooks alone (median). */
  deliveredPerSecond: Sample;
  /** The recovery's events written per second, in the same repetitions (median). */
  writtenPerSecond: Sample;
  /** Events delivered per second with the events queue relayed at the same time (the "on" runs). */
  deliveredWithQueuePerSecond: Sample;
  /** The raw lower bound: as many plain undici POSTs of a webhook-sized body to the same receiver, 64 in flight (per second, median). */
  rawPerSecond: Sample;
  /** CPU per delivered event while the events follow (µs, median), webhooks alone: this process (the relay), the database's backends, the receiver. */
  cpuPerEvent: { relay: Sample; database: Sample; receiver: Sample };
  /** The same with the events queue on too, and Redis's (null when Redis is not a process of this host). */
  cpuPerEventWithQueue: { relay: Sample; database: Sample; receiver: Sample; redis: Sample | null };
}

/** The Redis server's pid when it runs on this host (its CPU can then be read from /proc), else null. */
async function localRedisPid(redis: Redis): Promise<number | null> {
  const pid = Number(/process_id:(\d+)/.exec(await redis.info("server"))?.[1]);
  try {
    return Number.isInteger(pid) && readFileSync(`/proc/${pid}/comm`, "utf8").startsWith("redis") ? pid : null;
  } catch {
    return null;
  }
}

export async function measureWebhookRecovery(
  db: Db,
  pool: pg.Pool,
  databaseUrl: string,
  redis: Redis,
  rules: readonly Rule[],
  ids: { from: number; to: number },
  options: { reps: number; batchSize: number },
): Promise<WebhookRecovery> {
  const stuck = ids.to - ids.from + 1;
  const receiver = await startReceiverProcess();
  const url = `http://127.0.0.1:${receiver.port}/hook`;
  const endpoints = ORGANIZATIONS.map((organizationId) => ({ organizationId, url, secret: `whsec_${randomBytes(32).toString("base64")}` }));
  const logger = pino({ level: "silent" });
  const rates = { off: [] as number[], on: [] as number[], delivered: [] as number[], written: [] as number[], deliveredWithQueue: [] as number[] };
  const cpu = { relay: [] as number[], database: [] as number[], receiver: [] as number[] };
  const cpuWithQueue = { relay: [] as number[], database: [] as number[], receiver: [] as number[], redis: [] as number[] };
  const redisPid = await localRedisPid(redis);
  const raw: number[] = [];
  const settings = benchOutboxSettings(databaseUrl, { outboxPollIntervalMs: 200, eventsQueueMaxWaiting: 10_000_000 });

  // What the sweep worker tells the outbox in startWatchdog: a sweep runs (it gives way), the last one ended (it relays at once).
  const sweeps = activityCount();
  const sweep = async (r: number, side: "off" | "on" | "webhooks") => {
    await warm((sql) => db.$queryRawUnsafe(sql), 1);
    sweeps.begin();
    const ms: number = await timeMs(async () => {
      const result = await runSweep(db, rules, { sweepId: `bench-webhooks-${side}-${r}`, dryRun: false, batchSize: options.batchSize });
      if (result.reverted !== stuck) throw new Error(`the sweep reverted ${result.reverted} of ${stuck} stuck tasks`);
    }).finally(() => sweeps.end());
    if ((await countEvents(pool)) !== stuck) throw new Error("the sweep did not write one event per task");
    if (side !== "webhooks") rates[side].push(stuck / (ms / 1000));
    return ms;
  };

  /** A recovery with the outbox running (the events queue too, or webhooks alone), then every event followed to the receiver. */
  const recoverAndDeliver = async (r: number, side: "on" | "webhooks") => {
    await stage(pool, "processingInProgress", ids.from, ids.to);
    await pool.query("TRUNCATE outbox_cursors");
    const prefix = `bench-webhooks-${randomBytes(3).toString("hex")}`;
    const eventsQueue = side === "on" ? createEventsQueue(redis, prefix) : null;
    const outbox = await runOutbox({ settings, logger, registry: new Registry(), eventsQueue, endpoints, sweeps });
    await receiver.reset();
    try {
      const ms = await sweep(r, side);
      if (side === "webhooks") rates.written.push(stuck / (ms / 1000));
      // Every event reaches the receiver (bounded: a figure, not a hang).
      const sweepEnded = performance.now();
      const meter = await startCpuMeter(pool);
      const receiverCpu = processCpuMs(receiver.pid);
      const redisCpu = redisPid === null ? 0 : processCpuMs(redisPid);
      const deadline = Date.now() + 120_000;
      let received = 0;
      while ((received = await receiver.count()) < stuck && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      (side === "webhooks" ? rates.delivered : rates.deliveredWithQueue).push(received / ((performance.now() - sweepEnded) / 1000));
      const used = await meter.stop();
      const into = side === "webhooks" ? cpu : cpuWithQueue;
      into.relay.push((used.clientMs * 1000) / received);
      into.database.push((used.serverMs * 1000) / received);
      into.receiver.push(((processCpuMs(receiver.pid) - receiverCpu) * 1000) / received);
      if (side === "on" && redisPid !== null) cpuWithQueue.redis.push(((processCpuMs(redisPid) - redisCpu) * 1000) / received);
    } finally {
      await outbox.close();
      await eventsQueue?.obliterate({ force: true }).catch(() => undefined);
      await eventsQueue?.close();
    }
  };

  const runs = {
    off: async (r: number) => {
      await stage(pool, "processingInProgress", ids.from, ids.to);
      await sweep(r, "off");
    },
    on: (r: number) => recoverAndDeliver(r, "on"),
    webhooks: (r: number) => recoverAndDeliver(r, "webhooks"),
  };
  try {
    for (let r = 0; r < options.reps; r++) {
      const order: ("off" | "on" | "webhooks")[] = r % 2 === 0 ? ["off", "on", "webhooks"] : ["webhooks", "on", "off"]; // drift in load must not favour one side
      for (const side of order) await runs[side](r);
      raw.push(await rawPosts(receiver, stuck));
    }
  } finally {
    await receiver.close();
  }
  return {
    off: sample(rates.off),
    on: sample(rates.on),
    deliveredPerSecond: sample(rates.delivered),
    writtenPerSecond: sample(rates.written),
    deliveredWithQueuePerSecond: sample(rates.deliveredWithQueue),
    rawPerSecond: sample(raw),
    cpuPerEvent: { relay: sample(cpu.relay), database: sample(cpu.database), receiver: sample(cpu.receiver) },
    cpuPerEventWithQueue: {
      relay: sample(cpuWithQueue.relay),
      database: sample(cpuWithQueue.database),
      receiver: sample(cpuWithQueue.receiver),
      redis: cpuWithQueue.redis.length > 0 ? sample(cpuWithQueue.redis) : null,
    },
  };
}

/** `count` plain POSTs through undici (what delivery uses), 64 in flight, of a ~700-byte JSON body with webhook headers: requests per second. */
async function rawPosts(receiver: { port: number; reset(): Promise<void>; count(): Promise<number> }, count: number): Promise<number> {
  await receiver.reset();
  const pool = new Pool(`http://127.0.0.1:${receiver.port}`, { connections: 64 });
  const body = JSON.stringify({ type: "task.auto_reverted", timestamp: new Date().toISOString(), data: { id: "evt_1", pad: "x".repeat(600) } });
  const headers = { "content-type": "application/json", "webhook-id": "evt_1", "webhook-timestamp": "1", "webhook-signature": `v1,${"a".repeat(44)}` };
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next++ < count) await (await pool.request({ path: "/hook", method: "POST", headers, body })).body.dump();
    }),
  );
  const rate = count / ((performance.now() - started) / 1000);
  await pool.close();
  if ((await receiver.count()) !== count) throw new Error("the raw bound's requests did not all arrive");
  return rate;
}

/** The receiver runs in a child process (bench/webhook-receiver-child.mjs), as an endpoint would: its CPU is not the relay's. */
async function startReceiverProcess(): Promise<{ port: number; pid: number; count(): Promise<number>; reset(): Promise<void>; close(): Promise<void> }> {
  const child = spawn(process.execPath, [fileURLToPath(new URL("../webhook-receiver-child.mjs", import.meta.url))], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once("error", reject);
    child.stdout!.once("data", (chunk: Buffer) => resolve(JSON.parse(chunk.toString("utf8").split("\n")[0]!).port));
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const call = (method: string) =>
    new Promise<string>((resolve, reject) => {
      const request = http.request({ host: "127.0.0.1", port, path: "/count", method, agent }, (response) => {
        let text = "";
        response.on("data", (c: Buffer) => (text += c.toString("utf8")));
        response.on("end", () => resolve(text));
      });
      request.on("error", reject);
      request.end();
    });
  return {
    port,
    pid: child.pid!,
    count: async () => Number(await call("GET")),
    reset: async () => void (await call("DELETE")),
    close: async () => {
      agent.destroy();
      child.kill("SIGTERM");
      await new Promise((resolve) => child.once("exit", resolve));
    },
  };
}
