// A real browser (Debian's headless Chromium, driven by playwright-core) opens Bull Board, logs in
// through the Basic-auth prompt, sees both queues and a completed sweep job, and keeps a
// screenshot at test-artifacts/bull-board.png. Chromium missing fails the test (see .ci/run).
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TaskStatus as S } from "../../src/rules/status.js";
import { createSweepQueue, enqueueSweep } from "../../src/sweep/sweep-queue.js";
import { insertTasks, resetTables, testDb } from "../support/db.js";
import { testRedisUrl } from "../support/redis.js";
import { BOARD_PASSWORD, BOARD_USER, startApp, type RunningApp } from "../integration/http-app.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARTIFACTS = join(import.meta.dirname, "..", "..", "test-artifacts");
const SCREENSHOT = join(ARTIFACTS, "bull-board.png");

const db = testDb();
let app: RunningApp;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install -y chromium (.ci/run does), or set CHROMIUM_PATH`);
  await resetTables(db);
  app = await startApp();
  // launch() runs headless on a fresh temporary profile of its own (no --user-data-dir needed).
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
  });
});
afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await db.$disconnect();
});

describe("Bull Board in a browser", () => {
  it("without credentials the browser is challenged for them (401 + Basic) and shows nothing", async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const challenge = page.waitForEvent("response");
      // A person would see the login prompt here; headless Chromium, with nothing to answer it, gives up.
      await expect(page.goto(`${app.opsUrl}/admin/queues`)).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/);
      const response = await challenge;
      expect(response.status()).toBe(401);
      expect(await response.headerValue("www-authenticate")).toMatch(/^Basic realm=/);
    } finally {
      await context.close();
    }
  });

  it("logged in, it shows both queues and the completed sweep job; the screenshot is kept", async () => {
    await insertTasks(db, [{ status: S.ProcessingInProgress, ageSeconds: 5 * 3600 }]);
    const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
    const queue = createSweepQueue(redis, app.prefix);
    try {
      const job = await enqueueSweep(queue, {});
      await expect.poll(() => job.getState(), { timeout: 10_000, interval: 50 }).toBe("completed");
    } finally {
      await queue.close();
      await redis.quit();
    }

    const context = await browser.newContext({ httpCredentials: { username: BOARD_USER, password: BOARD_PASSWORD }, viewport: { width: 1400, height: 900 } });
    try {
      const page = await context.newPage();
      const response = await page.goto(`${app.opsUrl}/admin/queues`);
      expect(response?.status()).toBe(200);
      // The overview lists both queues once the UI's own API calls (same credentials) answered.
      await page.getByText("Task watchdog", { exact: true }).first().waitFor({ timeout: 15_000 });
      for (const queue of ["task-watchdog", "task-reprocess"]) await page.getByRole("link", { name: queue, exact: true }).first().waitFor({ timeout: 15_000 });

      await page.goto(`${app.opsUrl}/admin/queues/queue/task-watchdog?status=completed`);
      await page.getByText("sweep", { exact: true }).first().waitFor({ timeout: 15_000 });
      const body = await page.locator("body").innerText();
      expect(body).toMatch(/COMPLETED\s*1/i);
      expect(body).toMatch(/reverted:\s*1/);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      expect(existsSync(SCREENSHOT)).toBe(true);
    } finally {
      await context.close();
    }
  });
});
