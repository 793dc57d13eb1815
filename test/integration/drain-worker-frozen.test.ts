// A fetch in flight when Redis freezes. BullMQ takes a job with moveToActive, one short script that
// Redis answers in milliseconds; the drain counts a fetch in flight as work (the job it takes must be
// processed, not dropped). With Redis frozen (SIGSTOP: the connection still says ready, nothing is
// answered) that fetch never ended, and the drain waited for it to the deadline with no job in
// flight: the shutdown exited 124 (seen in shutdown-redis-outage on Node 24, 1 run in 4). Here the
// fetch is made to be in flight on a frozen Redis every time: the worker freezes its own Redis just
// before its moveToActive goes out.
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DrainableWorker, FETCH_WAIT_MS } from "../../src/platform/drain-worker.js";
import { startOwnRedis, type OwnRedis } from "../support/redis-server.js";

let redis: OwnRedis;
beforeAll(async () => {
  redis = await startOwnRedis();
});
afterAll(() => redis.stop());

class FreezingWorker extends DrainableWorker {
  freezeAtNextFetch: (() => void) | null = null;
  protected override async moveToActive(token: string, name?: string) {
    const froze = this.freezeAtNextFetch;
    if (froze) {
      this.freezeAtNextFetch = null;
      redis.freeze();
      froze();
    }
    return super.moveToActive(token, name);
  }
}

describe("DrainableWorker, a fetch in flight on a frozen Redis", () => {
  it("is waited on for FETCH_WAIT_MS, then left: the drain finishes with no job in flight instead of running to its deadline", async () => {
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const producer = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue("frozen-fetch", { connection: producer });
    const processed: string[] = [];
    const worker = new FreezingWorker("frozen-fetch", async (job) => void processed.push(String(job.id)), { connection });
    // Idle first: its first fetch found nothing ("drained"); it waits on its blocking connection.
    const idle = new Promise<void>((resolve) => worker.once("drained", () => resolve()));
    try {
      await idle;
      const frozen = new Promise<void>((resolve) => (worker.freezeAtNextFetch = resolve));
      await queue.add("job", {});
      await frozen;
      const started = Date.now();
      const result = await worker.shutdown(5000);
      const ms = Date.now() - started;
      console.info(`drain with a fetch in flight on a frozen Redis: ${JSON.stringify(result)} after ${ms} ms`);
      expect(result).toEqual({ drained: true, leftInFlight: 0 });
      expect(ms).toBeGreaterThanOrEqual(FETCH_WAIT_MS - 50);
      expect(processed).toEqual([]);
    } finally {
      redis.thaw();
      await worker.close(true).catch(() => undefined);
      await queue.close().catch(() => undefined);
      connection.disconnect();
      producer.disconnect();
    }
  }, 20_000);
});
