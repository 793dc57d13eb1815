// The pace of bulk reprocess is per ORGANIZATION (issue 21: "paced per organization"): two bulks of
// one organization together never exceed BULK_REPROCESS_RATE in any second, while another
// organization's bulk runs at its own pace beside them, not held back by theirs. Judged from the
// REPROCESSED events' own timestamps, per organization (bulk-reprocess-pace.test.ts judges one bulk).
import { afterAll, beforeAll, expect, it } from "vitest";
import { TaskStatus as S } from "../../src/rules/status.js";
import { BulkProgressBody } from "../../src/reprocess/bulk-bodies.js";
import { insertTasks, resetTables, testDb } from "../support/db.js";
import { postBulk, waitUntilFinished } from "../support/bulk.js";
import { ORG_7_TOKEN, ORG_8_TOKEN, startApp, type RunningApp } from "./http-app.js";

const db = testDb();
let app: RunningApp;
const RATE = 100;

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

async function start(token: string, taskIds: number[], key: string) {
  const response = await postBulk(app.apiUrl, { body: { taskIds }, key, token });
  expect(response.status).toBe(202);
  return BulkProgressBody.parse(await response.json()).bulkId;
}

/** The most REPROCESSED events of bulks in any window (t - 1 s, t], t an event's timestamp. */
async function maxPerSlidingSecond(organizationIds: number[]): Promise<number> {
  const [row] = await db.$queryRaw<{ n: number }[]>`
    WITH e AS (
      SELECT e.created_at AS t FROM task_events e JOIN tasks t ON t.id = e.task_id
      WHERE e.kind = 'REPROCESSED' AND e.details ->> 'bulkId' IS NOT NULL AND t.organization_id = ANY(${organizationIds}::int[])
    ), instants AS (SELECT t, count(*) AS n FROM e GROUP BY t)
    SELECT coalesce(max((SELECT sum(i2.n) FROM instants i2 WHERE i2.t > i1.t - interval '1 second' AND i2.t <= i1.t)), 0)::int AS n FROM instants i1`;
  return row!.n;
}

it(`two bulks of one organization share its ${RATE}/s; another organization's bulk keeps its own pace beside them`, { timeout: 120_000 }, async () => {
  const ids7 = await insertTasks(db, Array.from({ length: 600 }, () => ({ status: S.ProcessingFailed, ageSeconds: 600, organizationId: 7 })));
  const ids8 = await insertTasks(db, Array.from({ length: 300 }, () => ({ status: S.ProcessingFailed, ageSeconds: 600, organizationId: 8 })));
  const startedAt = Date.now();
  // Organization 7's two starts one after the other (at once, the second would be told to retry: one
  // start of an organization at a time), organization 8's beside them.
  const [[a, b], c] = await Promise.all([
    (async () => [await start(ORG_7_TOKEN, ids7.slice(0, 300), "org7-a"), await start(ORG_7_TOKEN, ids7.slice(300), "org7-b")] as const)(),
    start(ORG_8_TOKEN, ids8, "org8"),
  ]);

  expect(await waitUntilFinished(app.apiUrl, ORG_8_TOKEN, c, 60_000)).toMatchObject({ state: "done", applied: 300 });
  const org8Seconds = (Date.now() - startedAt) / 1000;
  for (const bulk of [a, b]) expect(await waitUntilFinished(app.apiUrl, ORG_7_TOKEN, bulk, 60_000)).toMatchObject({ state: "done", applied: 300 });
  const org7Seconds = (Date.now() - startedAt) / 1000;
  console.log(`organization 8: ${org8Seconds} s for 300; organization 7: ${org7Seconds} s for 600 (two bulks)`);

  // Each organization within its pace, both of 7's bulks counted together.
  expect(await maxPerSlidingSecond([7])).toBeLessThanOrEqual(RATE);
  expect(await maxPerSlidingSecond([8])).toBeLessThanOrEqual(RATE);
  expect(org7Seconds).toBeGreaterThanOrEqual(600 / RATE);
  // Not one pace shared by all: organization 8 finished its 300 while 7 was still going, and in some
  // second the two together went past one organization's rate.
  expect(org8Seconds).toBeLessThan(org7Seconds);
  expect(await maxPerSlidingSecond([7, 8])).toBeGreaterThan(RATE);
  const [twice] = await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM (SELECT task_id FROM task_events WHERE kind = 'REPROCESSED' GROUP BY task_id HAVING count(*) > 1) x`;
  expect(twice!.n).toBe(0);
});
