// The hourly retention's close at shutdown, while its run is held by a frozen PostgreSQL (a proxy
// that keeps the connections open and forwards nothing). Its statements stand alone and may be cut
// (a partition dropped or not, rows deleted or not: the next run does what is left), so the close
// waits for the run a little, not for as long as the statement's client timeout
// (DATABASE_STATEMENT_TIMEOUT + 2 s, 32 s by default): the outbox's close would be cut at the
// shutdown deadline (exit 124).
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createOutboxPool } from "../../src/outbox/outbox-pool.js";
import { RUN_WAIT_MS, startRetention } from "../../src/outbox/retention.js";
import { endPool } from "../../src/platform/db/client.js";
import { testDatabaseUrl } from "../support/db.js";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.js";

let proxy: TcpProxy;
beforeEach(async () => {
  proxy = await startTcpProxy();
});
afterEach(async () => {
  proxy.restore();
  await proxy.close();
});

describe("the retention's close", () => {
  it("with its run held by a frozen PostgreSQL, returns after RUN_WAIT_MS, not at the statement's client timeout", async () => {
    const logger = pino({ level: "silent" });
    const pool = createOutboxPool(proxy.url(testDatabaseUrl()), 2, logger);
    proxy.freeze();
    const retention = startRetention({ pool, owner: "retention-close-test", logger, retentionMs: 86_400_000, intervalMs: 20, leaseMs: 5000, relaysQueue: false, relaysWebhooks: false, onError: () => undefined });
    try {
      // The first run starts after 20 ms: its connection's start-up is held.
      for (const until = Date.now() + 3000; proxy.heldFromClients().length === 0 && Date.now() < until; ) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(proxy.heldFromClients().length).toBeGreaterThan(0);
      const started = Date.now();
      const outcome = await Promise.race([retention.close().then(() => "closed"), new Promise((resolve) => setTimeout(() => resolve("still waiting after 5 s"), 5000))]);
      expect({ outcome, withinWait: Date.now() - started < RUN_WAIT_MS + 500 }).toEqual({ outcome: "closed", withinWait: true });
    } finally {
      await endPool(pool, 100);
    }
  }, 20_000);
});
