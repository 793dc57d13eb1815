// Recovery with the outbox relay and webhooks on vs off: the same incident (`stuck` tasks stuck in
// ProcessingInProgress) drained by runSweep, once with nothing else running and once while the
// production relay (startOutboxRelay: events queue + 50 organizations' webhook scheduling) and the
// webhook worker (createWebhookWorker, signing every request) deliver every event to a local HTTP
// receiver. The sweep's statements are the same either way (no trigger). The relay and the webhook
// jobs give way while a sweep of their process runs (deferWhile, as startWatchdog wires it to the
// sweep worker) and deliver right after it: the figure shows that the recovery keeps its speed,
// the delivery rate shows how fast the events follow.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { randomBytes } from "node:crypto";
import { pino } from "pino";
import type { Redis } from "ioredis";
import type pg from "pg";
import type { Db } from "../../src/platform/db/client.js";
import type { Rule } from "../../src/rules/rules.js";
import { startOutboxRelay } from "../../src/outbox/outbox-relay.js";
import { createOutboxPool } from "../../src/outbox/outbox-pool.js";
import { createEventsQueue, createWebhooksQueue } from "../../src/outbox/queues.js";
import { createWebhookWorker } from "../../src/outbox/webhook-worker.js";
import { createOutboxMetrics } from "../../src/outbox/outbox-metrics.js";
import { runSweep } from "../../src/sweep/run-sweep.js";
import { Registry } from "prom-client";
import { countEvents, stage } from "../incident.js";
import { median, timeMs, warm } from "../measure.js";

const ORGANIZATIONS = Array.from({ length: 50 }, (_, i) => i + 1); // bench/seed.ts: 1 + id % 50

export interface WebhookRecovery {
  /** Tasks per second, median over repetitions. */
  off: number;
  on: number;
  /** Events delivered per second to the receiver while and after the sweep ran (median). */
  deliveredPerSecond: number;
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
  let received = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      received += 1;
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  const endpoints = ORGANIZATIONS.map((organizationId) => ({ organizationId, url, secret: `whsec_${randomBytes(32).toString("base64")}` }));
  const logger = pino({ level: "silent" });
  const rates = { off: [] as number[], on: [] as number[], delivered: [] as number[] };

  let sweeping = false;
  const sweep = async (r: number, side: "off" | "on") => {
    await warm((sql) => db.$queryRawUnsafe(sql), 1);
    sweeping = true; // what the sweep worker's "active" event tells the relay in startWatchdog
    const ms = await timeMs(async () => {
      const result = await runSweep(db, rules, { sweepId: `bench-webhooks-${side}-${r}`, dryRun: false, batchSize: options.batchSize });
      if (result.reverted !== stuck) throw new Error(`the sweep reverted ${result.reverted} of ${stuck} stuck tasks`);
    }).finally(() => (sweeping = false));
    if ((await countEvents(pool)) !== stuck) throw new Error("the sweep did not write one event per task");
    rates[side].push(stuck / (ms / 1000));
  };

  const runs = {
    off: async (r: number) => {
      await stage(pool, "processingInProgress", ids.from, ids.to);
      await sweep(r, "off");
    },
    on: async (r: number) => {
      await stage(pool, "processingInProgress", ids.from, ids.to);
      await pool.query("TRUNCATE outbox_cursors");
      const prefix = `bench-webhooks-${randomBytes(3).toString("hex")}`;
      const outboxPool = createOutboxPool(databaseUrl, 6, logger);
      const eventsQueue = createEventsQueue(redis, prefix);
      const webhooksQueue = createWebhooksQueue(redis, prefix);
      const metrics = createOutboxMetrics({ registry: new Registry(), pool: outboxPool, targets: [], logger });
      let stopping = false;
      const worker = createWebhookWorker({
        pool: outboxPool, endpoints, batchSize: 500, timeoutMs: 10_000, retryForMs: 3 * 86_400_000, retryDelayMs: 1000, retryMaxDelayMs: 60_000,
        concurrency: 4, logger, metrics, stopping: () => stopping, deferWhile: () => sweeping, connection: redis, prefix,
      });
      const relay = await startOutboxRelay({
        pool: outboxPool, logger, metrics, intervalMs: 200, batchSize: 500, eventsQueue, deferWhile: () => sweeping,
        webhooks: { queue: webhooksQueue, organizationIds: ORGANIZATIONS },
      });
      received = 0;
      const started = performance.now();
      try {
        await sweep(r, "on");
        // Every event reaches the receiver (bounded: a figure, not a hang).
        const deadline = Date.now() + 120_000;
        while (received < stuck && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
        rates.delivered.push(received / ((performance.now() - started) / 1000));
      } finally {
        stopping = true;
        await relay.close();
        await worker.close();
        await eventsQueue.obliterate({ force: true }).catch(() => undefined);
        await webhooksQueue.obliterate({ force: true }).catch(() => undefined);
        await eventsQueue.close();
        await webhooksQueue.close();
        await outboxPool.end();
      }
    },
  };
  try {
    for (let r = 0; r < options.reps; r++) {
      const order: ("off" | "on")[] = r % 2 === 0 ? ["off", "on"] : ["on", "off"]; // drift in load must not favour one side
      for (const side of order) await runs[side](r);
    }
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  return { off: median(rates.off), on: median(rates.on), deliveredPerSecond: median(rates.delivered) };
}
