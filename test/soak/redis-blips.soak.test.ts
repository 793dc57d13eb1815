// The long Redis blips (npm run test:soak; .ci/run runs it once, on Node 20): Redis cut or frozen for
// 60 s and for 5 min under a running worker process; afterwards the scheduled sweep, a manual sweep,
// a reprocess request and a webhook delivery all go through within 10 s of the restore, without a
// restart. The 10 s blips are part of npm test (test/integration/redis-blips.test.ts).
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { resetTables, testDb } from "../support/db.js";
import { redisBlip } from "../support/redis-blip.js";

const db = testDb();
beforeEach(() => resetTables(db));
afterAll(() => db.$disconnect());

describe.each([
  ["60 s", 60_000],
  ["5 min", 300_000],
] as const)("a %s Redis blip under a running worker", (label, outageMs) => {
  it.each(["cut", "freeze"] as const)("%s: every kind of work resumes within 10 s of the restore, without a restart", async (mode) => {
    const figures = await redisBlip(db, { mode, outageMs, resumeWithinMs: 10_000 });
    console.info(`redis blip ${mode} ${label}: ${JSON.stringify(figures)}`);
    for (const ms of Object.values(figures.resumedMs)) expect(ms).toBeLessThan(10_000);
    expect(figures.shutdown.code).toBe(0);
    expect(figures.shutdown.ms).toBeLessThan(10_000);
  }, outageMs + 90_000);
});
