// A real browser (Debian's headless Chromium, driven by playwright-core) walks the operator console
// as an on-call operator would: without credentials every page is 401; logged in, it sees a held
// status, a pause and a given-up webhook event; it releases the hold, resumes the pause (with the
// keyboard only) and replays the event, giving a name and a reason each time; each action then
// shows in the audit trail with that name, and the replayed event reaches the receiver with its
// original id and a valid signature. A form posted from another origin is refused and changes
// nothing. Screenshots for docs/operations.md go to docs/images/console-*.png.
import { existsSync, mkdirSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { Redis } from "ioredis";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TaskStatus as S } from "../../src/rules/status.js";
import { lastSweepHeldKey } from "../../src/sweep/last-sweep.js";
import { pauseAction } from "../../src/ops/actions.js";
import { createSweepQueue, enqueueSweep } from "../../src/sweep/sweep-queue.js";
import { insertTasks, resetTables, testDb } from "../support/db.js";
import { testRedisUrl } from "../support/redis.js";
import { startWebhookReceiver, webhooksJson, type WebhookReceiver } from "../support/webhook-receiver.js";
import { BOARD_PASSWORD, BOARD_USER, startApp, type RunningApp } from "../integration/http-app.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const IMAGES = join(import.meta.dirname, "..", "..", "docs", "images");
const ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"];

const db = testDb();
let app: RunningApp;
let browser: Browser;
let receiver: WebhookReceiver;
let givenUpEvent: string;
let evil: http.Server;
let evilUrl: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install -y chromium (.ci/run does), or set CHROMIUM_PATH`);
  await resetTables(db);
  receiver = await startWebhookReceiver([7]);
  // A given-up event of organization 7, written before the worker starts (so only a replay sends it).
  const [task, escalated] = await insertTasks(db, [
    { status: S.ToReview, ageSeconds: 0, organizationId: 7, externalId: "PO-7781" },
    { status: S.QueuedForPreProcessing, ageSeconds: 600, organizationId: 7 },
  ]);
  const [event] = await db.$queryRaw<{ id: string }[]>`
    INSERT INTO task_events (task_id, kind, from_status, to_status, reason, actor, created_at)
    VALUES (${task}, 'AUTO_REVERTED', 42, 30, 'stuck in ProcessingInProgress for 5 h', 'watchdog', now() - interval '3 days') RETURNING id::text`;
  givenUpEvent = `evt_${event!.id}`;
  await db.$executeRaw`INSERT INTO webhook_given_up (event_id, organization_id, attempts, last_error, given_up_at)
    VALUES (${event!.id}::bigint, 7, 41, 'http://127.0.0.1/hooks/7 answered 503', now() - interval '10 minutes')`;
  // A task that keeps coming back: escalated, with its trail.
  await db.$executeRaw`UPDATE tasks SET warning = true, warning_reason = 'reverted 3 times: needs support', auto_revert_count = 3 WHERE id = ${escalated}`;
  await db.$executeRaw`INSERT INTO task_events (task_id, kind, from_status, to_status, reason, actor, created_at)
    SELECT ${escalated}, 'AUTO_REVERTED', 42, 30, 'stuck in ProcessingInProgress for 4 h', 'watchdog', now() - g * interval '5 hours' FROM generate_series(1, 3) g`;
  // Something stuck now, so the rules table has numbers.
  await insertTasks(db, Array.from({ length: 4 }, () => ({ status: S.ProcessingInProgress, ageSeconds: 6 * 3600, organizationId: 9 })));

  app = await startApp({ CONSOLE_ACTIONS_ENABLED: "true", WEBHOOKS_JSON: webhooksJson(receiver, [7]), OUTBOX_POLL_INTERVAL: "PT0.1S" });
  // A sweep that ran (dry run: it lists what it would do), a held status and a pause, as an incident leaves them.
  const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  const queue = createSweepQueue(redis, app.prefix);
  try {
    const job = await enqueueSweep(queue, { dryRun: true });
    const deadline = Date.now() + 10_000;
    while ((await job.getState()) !== "completed") {
      if (Date.now() > deadline) throw new Error(`the dry-run sweep ${job.id} did not complete within 10 s`);
      await new Promise((r) => setTimeout(r, 50)); // waiting for the worker, not moving time
    }
    await redis.set(lastSweepHeldKey(app.prefix), JSON.stringify({ ProcessingInProgress: { stuck: 1240, limit: 500, maxTasks: 500, maxShare: 0.1, population: 9000 } }));
  } finally {
    await queue.close();
    await redis.quit();
  }
  await pauseAction(db, { rule: S.QueuedForExport, for: 4 * 3600, reason: "export service maintenance (CHG-2231)", by: "night-shift" }, "cli");

  // A page on another origin whose form posts to the console (what a cross-site attacker would serve).
  evil = http.createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end(`<!doctype html><form method="post" action="${app.opsUrl}/admin/console/resume"><input name="by" value="mallory"><input name="reason" value="x"><button>Win a prize</button></form>`);
  });
  await new Promise<void>((r) => evil.listen(0, "127.0.0.1", r));
  evilUrl = `http://localhost:${(evil.address() as AddressInfo).port}/`;

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
});

afterAll(async () => {
  await browser?.close();
  if (evil) await new Promise<void>((r) => evil.close(() => r()));
  await app?.stop();
  await receiver?.close();
  await db.$disconnect();
});

const audit = () => db.$queryRaw<{ action: string; actor: string; reason: string | null; via: string }[]>`SELECT action, actor, reason, via FROM operator_actions ORDER BY id`;

describe("the operator console in a browser", () => {
  it("without credentials every page is 401 with a Basic challenge, and the browser shows nothing", async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const challenge = page.waitForEvent("response");
      await expect(page.goto(`${app.opsUrl}/admin/console`)).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/);
      expect((await challenge).status()).toBe(401);
      for (const [method, path] of [
        ["GET", "/admin/console"],
        ["POST", "/admin/console/pause"],
        ["POST", "/admin/console/resume"],
        ["POST", "/admin/console/release"],
        ["POST", "/admin/console/replay"],
        ["POST", "/admin/events/replay"],
        ["GET", "/admin/events/given-up"],
      ] as const) {
        const response = await context.request.fetch(`${app.opsUrl}${path}`, { method, ...(method === "POST" ? { form: { by: "x", reason: "y" } } : {}) });
        expect(response.status(), `${method} ${path}`).toBe(401);
        expect(response.headers()["www-authenticate"], path).toMatch(/^Basic realm=/);
      }
    } finally {
      await context.close();
    }
  });

  it("shows a held status, a pause and a given-up event; releases, resumes (keyboard only) and replays; each lands in the audit trail with the name given", async () => {
    const context = await browser.newContext({ httpCredentials: { username: BOARD_USER, password: BOARD_PASSWORD }, viewport: { width: 1280, height: 900 } });
    try {
      const page = await context.newPage();
      expect((await page.goto(`${app.opsUrl}/admin/console`))?.status()).toBe(200);
      await expect.poll(() => page.title()).toBe("Task watchdog — operator console");
      const main = page.locator("main");
      expect(await main.innerText()).toMatch(/HELD by the last sweep: 1240 stuck > limit 500/);
      expect(await page.locator("#pauses").innerText()).toMatch(/QueuedForExport\s+night-shift\s+export service maintenance \(CHG-2231\)/);
      expect(await page.locator("#given-up").innerText()).toContain(givenUpEvent);
      expect(await page.locator("#escalated").innerText()).toMatch(/reverted 3 times: needs support/);
      expect(await page.locator("#sweeps").innerText()).toContain("dry run: would revert 4, move 0 to history, flag 0 (did nothing)"); // the 4 ProcessingInProgress tasks of 6 h
      mkdirSync(IMAGES, { recursive: true });
      await page.screenshot({ path: join(IMAGES, "console-overview.png"), fullPage: true });
      // The same moment on a phone (the screenshot in docs/operations.md).
      const phone = await browser.newContext({ httpCredentials: { username: BOARD_USER, password: BOARD_PASSWORD }, viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
      try {
        const onPhone = await phone.newPage();
        await onPhone.goto(`${app.opsUrl}/admin/console`);
        await onPhone.screenshot({ path: join(IMAGES, "console-phone.png") });
      } finally {
        await phone.close();
      }

      // Release the held status (mouse).
      await page.getByText("Release ProcessingInProgress…").click();
      const release = page.locator('form[action$="/release"]');
      await release.getByLabel("Your name (audited)").fill("Alice Ops");
      await release.getByLabel("Reason (audited)").fill("checked: the OCR outage is real, revert them");
      await release.getByRole("button", { name: "Release ProcessingInProgress for one sweep" }).click();
      await page.waitForURL(/\/admin\/console\?done=release/);
      expect(await page.getByRole("status").first().innerText()).toMatch(/Released/);

      // Resume the pause with the keyboard only: Tab to its summary, Enter opens it, Tab through the fields, Enter submits.
      const summary = page.getByText("Resume QueuedForExport…");
      let guard = 0;
      while (!(await summary.evaluate((el: { ownerDocument: { activeElement: unknown } }) => el === el.ownerDocument.activeElement)) && guard++ < 200) await page.keyboard.press("Tab");
      expect(guard).toBeLessThan(200);
      await page.keyboard.press("Enter");
      await page.keyboard.press("Tab"); // the name field (the hidden inputs take no focus)
      await page.keyboard.type("Bob Night");
      await page.keyboard.press("Tab");
      await page.keyboard.type("CHG-2231 finished early");
      await page.keyboard.press("Enter");
      await page.waitForURL(/\/admin\/console\?done=resume/);
      expect(await page.locator("#pauses").innerText()).toContain("Nothing is paused.");

      // Replay every given-up event.
      await page.getByText("Replay every given-up event…").click();
      const replay = page.locator("form").filter({ has: page.getByRole("button", { name: "Replay every given-up event" }) });
      await replay.getByLabel("Your name (audited)").fill("Carol Support");
      await replay.getByLabel("Reason (audited)").fill("customer 7's endpoint is back");
      await replay.getByRole("button", { name: "Replay every given-up event" }).click();
      await page.waitForURL(/\/admin\/console\?done=replay/);
      await receiver.waitFor((r) => r.delivered.length >= 1);
      expect(receiver.delivered.map((d) => d.webhookId)).toEqual([givenUpEvent]);
      expect(receiver.delivered[0]!.verified).toBe(true);

      expect(await audit()).toEqual([
        { action: "pause", actor: "night-shift", reason: "export service maintenance (CHG-2231)", via: "cli" },
        { action: "release", actor: "Alice Ops", reason: "checked: the OCR outage is real, revert them", via: "console" },
        { action: "resume", actor: "Bob Night", reason: "CHG-2231 finished early", via: "console" },
        { action: "replay", actor: "Carol Support", reason: "customer 7's endpoint is back", via: "console" },
      ]);
      await page.goto(`${app.opsUrl}/admin/console#audit`);
      const trail = await page.locator("#audit").innerText();
      for (const name of ["Alice Ops", "Bob Night", "Carol Support"]) expect(trail).toContain(name);
      await expect.poll(async () => (await page.reload(), await page.locator("#given-up").innerText()), { timeout: 10_000 }).toContain("No given-up event waits for a replay.");
      await page.screenshot({ path: join(IMAGES, "console-after-actions.png"), fullPage: true });
    } finally {
      await context.close();
    }
  });

  it("a form posted from another origin is refused (403) and changes nothing", async () => {
    await pauseAction(db, { reason: "freeze for the audit", by: "night-shift" }, "cli");
    const before = await audit();
    const context = await browser.newContext({ httpCredentials: { username: BOARD_USER, password: BOARD_PASSWORD } });
    try {
      const page = await context.newPage();
      await page.goto(`${app.opsUrl}/admin/console`); // the operator has the console open: the session cookie exists
      await page.goto(evilUrl);
      const [response] = await Promise.all([page.waitForNavigation(), page.getByRole("button", { name: "Win a prize" }).click()]);
      expect(response?.status()).toBe(403);
      expect(await page.locator("body").innerText()).toMatch(/did not come from the console's own page/);
    } finally {
      await context.close();
    }
    expect(await audit()).toEqual(before);
    expect((await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM sweep_pauses WHERE ended_at IS NULL`)[0]!.n).toBe(1);
  });

  it("on a phone it is one column, readable without zooming; Bull Board links to it from its header", async () => {
    const phone = await browser.newContext({
      httpCredentials: { username: BOARD_USER, password: BOARD_PASSWORD },
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
    });
    try {
      const page = await phone.newPage();
      await page.goto(`${app.opsUrl}/admin/console`);
      // Nothing but the tables' own scrolling boxes is wider than the screen.
      const overflow = await page.evaluate<number>("document.documentElement.scrollWidth - document.documentElement.clientWidth");
      expect(overflow).toBeLessThanOrEqual(0);
    } finally {
      await phone.close();
    }
    const desktop = await browser.newContext({ httpCredentials: { username: BOARD_USER, password: BOARD_PASSWORD }, viewport: { width: 1400, height: 900 } });
    try {
      const page = await desktop.newPage();
      await page.goto(`${app.opsUrl}/admin/queues`);
      await page.getByText("Task watchdog", { exact: true }).first().waitFor({ timeout: 15_000 });
      // The board's header: its last action opens the menu of links (bull-board's uiConfig.miscLinks).
      await page.locator('header ul[class*="actions"] > li').last().locator("button").click();
      const link = page.getByText("Operator console", { exact: true });
      await link.first().waitFor({ timeout: 15_000 });
      await page.screenshot({ path: join(IMAGES, "console-board-link.png") });
      await link.first().click();
      await page.waitForURL(/\/admin\/console$/);
      expect(await page.title()).toBe("Task watchdog — operator console");
    } finally {
      await desktop.close();
    }
  });
});
