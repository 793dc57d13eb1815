// The soak with faults (test/support/soak.ts): two replicas under load while Redis and PostgreSQL are
// cut, frozen and restarted and one replica is killed and restarted, at random from a seed.
// WATCHDOG_SOAK_MINUTES (default 3, the CI variant) and WATCHDOG_SOAK_SEED replay or lengthen a run;
// the 30-minute figures are in docs/reliability.md.
import { afterAll, expect, it } from "vitest";
import { testDb } from "../support/db.js";
import { soak } from "../support/soak.js";

const db = testDb();
afterAll(() => db.$disconnect());

const minutes = Number(process.env.WATCHDOG_SOAK_MINUTES ?? "3");
const seed = Number(process.env.WATCHDOG_SOAK_SEED ?? "20261204");

it(`a ${minutes}-minute soak with faults (seed ${seed}): 0 lost, 0 double actions, 0 hangs, RSS flat`, async () => {
  const figures = await soak(db, { durationMs: minutes * 60_000, seed, log: (line) => console.info(`soak ${line}`) });
  console.info(`soak figures: ${JSON.stringify(figures)}`);
  expect(figures.lost).toEqual({ stuckTasksNotReverted: 0, requestsNotCompleted: 0, requestsNotApplied: 0, eventsNotDelivered: 0 });
  expect(figures.doubles).toMatchObject({ tasksRevertedTwice: 0, tasksReprocessedTwice: 0, webhookIdsInFlightTwice: 0 });
  expect(figures.shutdowns.overDeadline).toBe(0);
  expect(figures.rssMb.last).toBeLessThan(figures.rssMb.first * 1.5);
}, minutes * 60_000 + 600_000);
