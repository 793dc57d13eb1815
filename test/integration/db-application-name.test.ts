// In pg_stat_activity an operator tells the watchdog's connections apart by their application_name:
// the main pool's (sweep, reprocess, API, health) and the outbox's own. One given in DATABASE_URL wins.
import pino from "pino";
import { describe, expect, it } from "vitest";
import { createOutboxPool } from "../../src/outbox/outbox-pool.js";
import { createDb } from "../../src/platform/db/client.js";
import { testDatabaseUrl } from "../support/db.js";

const withApplicationName = (name: string) => {
  const url = new URL(testDatabaseUrl());
  url.searchParams.set("application_name", name);
  return url.toString();
};

/** The application_name pg_stat_activity shows for a connection of each pool, read on that connection. */
async function names(databaseUrl: string): Promise<{ main: string; outbox: string }> {
  const db = createDb(databaseUrl, { max: 1 });
  const outbox = createOutboxPool(databaseUrl, 1, pino({ level: "silent" }));
  const shown = "SELECT application_name AS name FROM pg_stat_activity WHERE pid = pg_backend_pid()";
  try {
    const [main] = await db.$queryRawUnsafe<{ name: string }[]>(shown);
    const { rows: [own] } = await outbox.query<{ name: string }>(shown);
    return { main: main!.name, outbox: own!.name };
  } finally {
    await db.$disconnect();
    await outbox.end();
  }
}

describe("the worker's PostgreSQL connections", () => {
  it("are named task-watchdog (the main pool) and task-watchdog outbox (the outbox's own pool) in pg_stat_activity", async () => {
    expect(await names(testDatabaseUrl())).toEqual({ main: "task-watchdog", outbox: "task-watchdog outbox" });
  });

  it("take the name DATABASE_URL gives (?application_name=…) instead", async () => {
    expect(await names(withApplicationName("billing-watchdog"))).toEqual({ main: "billing-watchdog", outbox: "billing-watchdog" });
  });
});
