// A worker that has stopped fetching never opens its blocking connection again. BullMQ's recovery of
// a BZPOPMIN that outlived its watchdog (resetBlockedConnection → reconnectBlocking) does not look
// whether the worker has closed since: in CI, after a Redis cut, it reconnected 30 and 100 ms into a
// shutdown that had ended cleanly, and the process lived on to the 10 s backstop (exit 124,
// redis-blips). Here the recovery's call is made at both moments.
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { DrainableWorker } from "../../src/platform/drain-worker.js";
import { deletePrefix, testRedisUrl, uniquePrefix } from "../support/redis.js";

const prefix = uniquePrefix();
afterAll(() => deletePrefix(prefix));

/** The connections the Redis server has from this test's worker: BullMQ names the blocking one after the prefix. */
async function blockingConnectionsOnServer(): Promise<number> {
  const admin = new Redis(testRedisUrl());
  try {
    const list = (await admin.client("LIST")) as string;
    return list.split("\n").filter((line) => line.includes(` name=${prefix}:`)).length;
  } finally {
    await admin.quit();
  }
}

describe("DrainableWorker after stopFetching", () => {
  it("BullMQ's late recovery of the blocking connection, during the drain and after the close, opens none", async () => {
    const connection = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
    const worker = new DrainableWorker("late-reconnect", async () => undefined, { connection, prefix });
    try {
      await worker.waitUntilReady();
      expect(await blockingConnectionsOnServer()).toBe(1);
      const backend = (worker as unknown as { backend: { reconnectBlocking(): Promise<void> } }).backend;

      await worker.stopFetching();
      await backend.reconnectBlocking().catch(() => undefined);
      await worker.shutdown(0);
      await backend.reconnectBlocking().catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 200));

      expect(await blockingConnectionsOnServer()).toBe(0);
    } finally {
      await worker.close(true);
      await connection.quit();
    }
  });
});
