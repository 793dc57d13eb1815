// Redis cut or frozen for 10 s under a running worker process: afterwards the scheduled sweep, a manual
// sweep, a reprocess request and a webhook delivery all go through again within 10 s of the restore,
// with no restart, and the worker still shuts down cleanly. The 60 s and 5 min blips: test/soak.
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { resetTables, testDb } from "../support/db.js";
import { redisBlip } from "../support/redis-blip.js";

const db = testDb();
beforeEach(() => resetTables(db));
afterAll(() => db.$disconnect());

describe("a 10 s Redis blip under a running worker", () => {
  it.each(["cut", "freeze"] as const)("%s: every kind of work resumes within 10 s of the restore, without a restart", async (mode) => {
    const figures = await redisBlip(db, { mode, outageMs: 10_000, resumeWithinMs: 10_000 });
    console.info(`redis blip ${mode} 10 s: ${JSON.stringify(figures)}`);
    for (const ms of Object.values(figures.resumedMs)) expect(ms).toBeLessThan(10_000);
    expect(figures.shutdown.code).toBe(0);
    expect(figures.shutdown.ms).toBeLessThan(10_000);
  }, 60_000);
});
