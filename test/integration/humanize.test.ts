// warning_reason is written by SQL (watchdog_humanize_seconds) while reports use formatDuration:
// the two must read the same for every age.
import { afterAll, expect, it } from "vitest";
import { formatDuration } from "../../src/rules/duration.js";
import { testDb } from "../support/db.js";

const db = testDb();
afterAll(() => db.$disconnect());

it("the SQL and TypeScript humanizers agree", async () => {
  const ages = [0, 1, 59, 60, 61, 599, 3599, 3600, 3601, 3660, 7199, 11_520, 86_399, 86_400, 90_000, 187_200, 10 * 86_400 + 3599];
  const rows = await db.$queryRaw<{ s: bigint; text: string }[]>`SELECT s, watchdog_humanize_seconds(s) AS text FROM unnest(${ages}::bigint[]) AS s`;
  expect(rows.map((r) => r.text)).toEqual(ages.map(formatDuration));
});
