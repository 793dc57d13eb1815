// An operator who wants the watchdog's connections named in pg_stat_activity puts application_name
// in DATABASE_URL (docs/configuration.md): both of its pools, the main one and the outbox's own,
// then carry it. The worker sets no name of its own (behind PgBouncer in transaction mode, a name
// that differs from the other clients' costs a SET each time a server connection changes hands).
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { createDb } from "../../src/platform/db/client.js";
import { createOutboxPool } from "../../src/outbox/outbox-pool.js";
import { testDatabaseUrl } from "../support/db.js";

const named = (name: string) => {
  const url = new URL(testDatabaseUrl());
  url.searchParams.set("application_name", name);
  return url.toString();
};
const closers: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const close of closers) await close();
});

describe("when DATABASE_URL carries an application_name", () => {
  it("then the main pool's and the outbox pool's connections carry it; without one, neither names itself", async () => {
    const db = createDb(named("task-watchdog eu-1"), { max: 1 });
    const outbox = createOutboxPool(named("task-watchdog eu-1"), 1, pino({ level: "silent" }));
    const plain = createDb(testDatabaseUrl(), { max: 1 });
    closers.push(() => db.$disconnect(), () => outbox.end(), () => plain.$disconnect());

    const main = await db.$queryRawUnsafe<{ name: string }[]>("SELECT current_setting('application_name') AS name");
    const relay = await outbox.query<{ name: string }>("SELECT current_setting('application_name') AS name");
    const none = await plain.$queryRawUnsafe<{ name: string }[]>("SELECT current_setting('application_name') AS name");
    expect([main[0]!.name, relay.rows[0]!.name, none[0]!.name]).toEqual(["task-watchdog eu-1", "task-watchdog eu-1", ""]);
  });
});
