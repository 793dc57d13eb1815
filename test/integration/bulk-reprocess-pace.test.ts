// The pace of a bulk reprocess, measured from the database's own rows: 10,000 tasks at
// BULK_REPROCESS_RATE=200 take at least 50 s and never exceed 200 in any second — neither in a
// calendar second nor in any window (t - 1 s, t] — by the REPROCESSED events' timestamps.
//
// This is the suite's one long test (about 50 s, by design: the pace is the point). Everything
// else about bulks runs at a high rate in bulk-reprocess.test.ts; the kill test uses a small bulk.
import { afterAll, beforeAll, expect, it } from "vitest";
import { TaskStatus as S } from "../../src/rules/status.js";
import { BulkProgressBody } from "../../src/reprocess/bulk-bodies.js";
import { insertTasks, resetTables, testDb } from "../support/db.js";
import { paceFigures, postBulk, waitUntilFinished } from "../support/bulk.js";
import { ORG_7_TOKEN, startApp, type RunningApp } from "./http-app.js";

const db = testDb();
let app: RunningApp;
const RATE = 200;
const TASKS = 10_000;

beforeAll(async () => {
  await resetTables(db);
  app = await startApp({ BULK_REPROCESS_RATE: String(RATE) });
});
afterAll(async () => {
  await db.$executeRaw`UPDATE bulk_reprocesses SET state = 'CANCELLED', finished_at = now() WHERE state = 'RUNNING'`;
  await app.stop();
  await resetTables(db);
  await db.$disconnect();
});

it(`10,000 tasks at ${RATE}/s: at least 50 s, never more than ${RATE} in any second, each task once`, { timeout: 240_000 }, async () => {
  await insertTasks(db, Array.from({ length: TASKS }, (_, i) => ({ status: i % 2 ? S.ProcessingFailed : S.ToReview, ageSeconds: 600, organizationId: 7 })));
  const response = await postBulk(app.apiUrl, { query: "?status=ProcessingFailed,ToReview", key: "pace", token: ORG_7_TOKEN });
  expect(response.status).toBe(202);
  const bulk = BulkProgressBody.parse(await response.json());

  const done = await waitUntilFinished(app.apiUrl, ORG_7_TOKEN, bulk.bulkId, 200_000);
  expect(done).toMatchObject({ state: "done", total: TASKS, applied: TASKS, refused: 0, notFound: 0, pending: 0 });

  const figures = await paceFigures(db, bulk.bulkId);
  console.log(`pace: ${JSON.stringify(figures)}`);
  expect(figures.events).toBe(TASKS);
  expect(figures.appliedTwice).toBe(0);
  expect(figures.maxPerSecond).toBeLessThanOrEqual(RATE);
  expect(figures.maxPerSlidingSecond).toBeLessThanOrEqual(RATE);
  expect(figures.seconds).toBeGreaterThanOrEqual(TASKS / RATE);
  expect(figures.durationSeconds).toBeGreaterThanOrEqual(TASKS / RATE);
  // The loop keeps up: not far slower than the pace, even on a loaded machine.
  expect(figures.durationSeconds).toBeLessThan((TASKS / RATE) * 3);
});
