// `promtool check metrics` on a real scrape of the running worker: names, units, _total suffixes
// and help texts follow Prometheus' conventions (the linter prints nothing when they do).
import { afterAll, beforeAll, expect, it } from "vitest";
import { TaskStatus as S } from "../../src/rules/status.js";
import { insertTasks, resetTables, testDb } from "../support/db.js";
import { promtool } from "../support/promtool.js";
import { startApp, type RunningApp } from "../integration/http-app.js";

const db = testDb();
let app: RunningApp;

beforeAll(async () => {
  await resetTables(db);
  app = await startApp();
});
afterAll(async () => {
  await app.stop();
  await db.$disconnect();
});

it("when /metrics is scraped with stuck tasks present, promtool check metrics finds no problem", async () => {
  await insertTasks(db, [{ status: S.ProcessingInProgress, ageSeconds: 5 * 3600 }]);
  const text = await (await fetch(`${app.opsUrl}/metrics`)).text();
  expect(text).toMatch(/^watchdog_oldest_stuck_age_seconds\{status="ProcessingInProgress"\} /m);
  expect(text).toMatch(/^watchdog_build_info\{/m);
  const run = promtool(["check", "metrics"], text);
  expect(`${run.stdout}${run.stderr}`).toBe("");
  expect(run.status).toBe(0);
});
