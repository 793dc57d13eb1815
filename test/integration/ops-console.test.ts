// The operator console over HTTP, against a whole worker in-process: every page and action is
// behind Bull Board's credentials; read-only unless CONSOLE_ACTIONS_ENABLED; a POST without the
// session's token, or from another origin, is refused and changes nothing; each action has its
// effect and lands in the audit trail (operator_actions) with the name and reason given, through
// the same functions as the CLI.
import { Redis } from "ioredis";
import { Queue } from "bullmq";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { TaskStatus as S } from "../../src/rules/status.js";
import { lastSweepHeldKey } from "../../src/sweep/last-sweep.js";
import { SWEEP_QUEUE } from "../../src/platform/queue-names.js";
import { insertTasks, resetTables, testDb } from "../support/db.js";
import { testRedisUrl } from "../support/redis.js";
import { startWebhookReceiver, webhooksJson, type WebhookReceiver } from "../support/webhook-receiver.js";
import { basic, BOARD_PASSWORD, BOARD_USER, startApp, type RunningApp } from "./http-app.js";

const db = testDb();
const AUTH = basic(BOARD_USER, BOARD_PASSWORD);
let app: RunningApp | undefined;
let receiver: WebhookReceiver;

beforeEach(async () => {
  await resetTables(db);
  receiver = await startWebhookReceiver([7]);
});
afterEach(async () => {
  await app?.stop();
  app = undefined;
  await receiver.close();
});
afterAll(() => db.$disconnect());

const start = async (env: Record<string, string> = {}) => (app = await startApp({ CONSOLE_ACTIONS_ENABLED: "true", WEBHOOKS_JSON: webhooksJson(receiver, [7]), OUTBOX_POLL_INTERVAL: "PT0.05S", ...env }));

/** Opens the console as a browser would: the page, its session cookie and the form token in it. */
async function openConsole(a: RunningApp) {
  const response = await fetch(`${a.opsUrl}/admin/console`, { headers: { authorization: AUTH } });
  expect(response.status).toBe(200);
  const cookie = /^(watchdog_console_csrf=[^;]+)/.exec(response.headers.get("set-cookie") ?? "")?.[1];
  const html = await response.text();
  const token = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
  return { html, cookie: cookie!, token: token! };
}

/** A form POST: its fields, or the urlencoded body as it stands (a field given twice). */
function post(a: RunningApp, path: string, fields: Record<string, string> | string, headers: Record<string, string> = {}) {
  return fetch(`${a.opsUrl}${path}`, {
    method: "POST",
    redirect: "manual",
    headers: { authorization: AUTH, "content-type": "application/x-www-form-urlencoded", origin: a.opsUrl, ...headers },
    body: typeof fields === "string" ? fields : new URLSearchParams(fields).toString(),
  });
}

const actions = () => db.$queryRaw<{ action: string; actor: string; reason: string | null; via: string; details: Record<string, unknown> }[]>`SELECT action, actor, reason, via, details FROM operator_actions ORDER BY id`;
const openPauses = () => db.$queryRaw<{ status: number | null; reason: string; paused_by: string; expires_at: Date | null }[]>`SELECT status, reason, paused_by, expires_at FROM sweep_pauses WHERE ended_at IS NULL`;

describe("operator console: who may see it", () => {
  it("without credentials, or with wrong ones, every page and action is 401 with a Basic challenge", async () => {
    const a = await start();
    const paths: [string, string][] = [
      ["GET", "/admin/console"],
      ["POST", "/admin/console/pause"],
      ["POST", "/admin/console/resume"],
      ["POST", "/admin/console/release"],
      ["POST", "/admin/console/replay"],
      ["POST", "/admin/events/replay"],
      ["GET", "/admin/events/given-up"],
    ];
    for (const [method, path] of paths) {
      for (const authorization of [undefined, basic(BOARD_USER, "wrong-password-123"), basic("someone", BOARD_PASSWORD)]) {
        const response = await fetch(`${a.opsUrl}${path}`, { method, headers: authorization ? { authorization } : {}, ...(method === "POST" ? { body: "reason=x" } : {}) });
        expect(response.status, `${method} ${path}`).toBe(401);
        expect(response.headers.get("www-authenticate"), `${method} ${path}`).toMatch(/^Basic realm=/);
      }
    }
    expect(await actions()).toEqual([]);
  });

  it("without configured credentials (loopback only) it answers loopback Host names only: a rebound DNS name gets 401", async () => {
    const a = await start({ BULL_BOARD_USER: "", BULL_BOARD_PASSWORD: "" });
    const port = new URL(a.opsUrl).port;
    const status = async (host: string) => {
      const { request } = await import("node:http");
      return new Promise<number>((resolve, reject) => {
        const req = request({ host: "127.0.0.1", port, path: "/admin/console", headers: { host } }, (res) => (res.resume(), resolve(res.statusCode ?? 0)));
        req.on("error", reject);
        req.end();
      });
    };
    expect(await status(`127.0.0.1:${port}`)).toBe(200);
    expect(await status(`localhost:${port}`)).toBe(200);
    expect(await status(`attacker.example:${port}`)).toBe(401);
  });

  it("the console is not served on the external API listener", async () => {
    const a = await start();
    expect((await fetch(`${a.apiUrl}/admin/console`, { headers: { authorization: AUTH } })).status).toBe(404);
  });
});

describe("operator console: read-only unless switched on", () => {
  it("with CONSOLE_ACTIONS_ENABLED unset it shows but offers no form, and refuses every action (403) without changing anything", async () => {
    const a = await start({ CONSOLE_ACTIONS_ENABLED: "" });
    const { html, cookie } = await openConsole(a);
    expect(html).toContain("Read-only: actions are off");
    expect(html).not.toContain("<form");
    const token = "x".repeat(43);
    const response = await post(a, "/admin/console/pause", { csrf: token, reason: "r", by: "alice" }, { cookie: cookie ?? `watchdog_console_csrf=${token}` });
    expect(response.status).toBe(403);
    const api = await fetch(`${a.opsUrl}/admin/events/replay`, { method: "POST", headers: { authorization: AUTH, "content-type": "application/json" }, body: JSON.stringify({ givenUp: true, by: "a", reason: "b" }) });
    expect(api.status).toBe(403);
    expect(await openPauses()).toEqual([]);
    expect(await actions()).toEqual([]);
  });
});

describe("operator console: CSRF", () => {
  it("a POST without the session's token, with another token, without the cookie, or from another origin is refused (403) and changes nothing", async () => {
    const a = (app = await startApp({ CONSOLE_ACTIONS_ENABLED: "true", WEBHOOKS_JSON: webhooksJson(receiver, [7]) }, { captureLogs: true }));
    const { cookie, token } = await openConsole(a);
    expect(cookie).toMatch(/^watchdog_console_csrf=[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/);
    expect(token).toBe(cookie.split("=")[1]);
    const fields = { reason: "maintenance", by: "mallory" };
    const refused = [
      await post(a, "/admin/console/pause", fields, { cookie }), // no token in the form
      await post(a, "/admin/console/pause", { ...fields, csrf: "A".repeat(43) }, { cookie }), // another token
      // A pair the console never issued, though cookie and form agree (a cookie set from a sibling
      // origin: cookies are not kept apart by port), in its format or not.
      await post(a, "/admin/console/pause", { ...fields, csrf: "x" }, { cookie: "watchdog_console_csrf=x" }),
      await post(a, "/admin/console/pause", { ...fields, csrf: `${"A".repeat(43)}.${"B".repeat(43)}` }, { cookie: `watchdog_console_csrf=${"A".repeat(43)}.${"B".repeat(43)}` }),
      await post(a, "/admin/console/pause", { ...fields, csrf: token }), // no cookie (SameSite kept it back)
      await post(a, "/admin/console/pause", { ...fields, csrf: token }, { cookie, origin: "https://evil.example" }), // cross-site
      await post(a, "/admin/console/pause", { ...fields, csrf: token }, { cookie, origin: "null" }),
    ];
    // Without an Origin, a browser's Sec-Fetch-Site says where it came from.
    const noOrigin = await fetch(`${a.opsUrl}/admin/console/pause`, {
      method: "POST",
      headers: { authorization: AUTH, cookie, "content-type": "application/x-www-form-urlencoded", "sec-fetch-site": "cross-site" },
      body: new URLSearchParams({ ...fields, csrf: token }).toString(),
    });
    for (const r of [...refused, noOrigin]) expect(r.status).toBe(403);
    expect(await openPauses()).toEqual([]);
    expect(await actions()).toEqual([]);
    // The log says which check failed (a field named "token" was redacted to "[redacted]").
    const checks = a.logs().split("\n").filter((l) => l.includes("CSRF check")).map((l) => JSON.parse(l).csrfCheck);
    expect(checks).toEqual(["missing from form", "mismatch", "not issued by this console", "not issued by this console", "no cookie", "ok", "ok", "ok"]);
    // The JSON endpoint: a form's content type is refused, and another origin too.
    const form = await fetch(`${a.opsUrl}/admin/events/replay`, { method: "POST", headers: { authorization: AUTH, "content-type": "text/plain" }, body: JSON.stringify({ givenUp: true, by: "a", reason: "b" }) });
    expect(form.status).toBe(415);
    const evil = await fetch(`${a.opsUrl}/admin/events/replay`, { method: "POST", headers: { authorization: AUTH, "content-type": "application/json", origin: "https://evil.example" }, body: JSON.stringify({ givenUp: true, by: "a", reason: "b" }) });
    expect(evil.status).toBe(403);
  });

  it("the page forbids framing and scripts (CSP) and is never cached", async () => {
    const a = await start();
    const response = await fetch(`${a.opsUrl}/admin/console`, { headers: { authorization: AUTH } });
    expect(response.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(response.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(response.headers.get("x-frame-options")).toBe("DENY");
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(response.headers.get("set-cookie")).toMatch(/HttpOnly; SameSite=Strict/);
    expect(await response.text()).not.toContain("<script");
  });
});

describe("operator console: actions", () => {
  it("pause (one rule, with an expiry), then resume: each takes effect and is audited with the name and reason given", async () => {
    const a = await start();
    const { cookie, token } = await openConsole(a);
    const paused = await post(a, "/admin/console/pause", { csrf: token, rule: "ProcessingInProgress", for: "PT2H", reason: "OCR vendor outage", by: "alice" }, { cookie });
    expect(paused.status).toBe(303);
    expect(paused.headers.get("location")).toBe("/admin/console?done=pause#audit");
    const [pause] = await openPauses();
    expect(pause).toMatchObject({ status: S.ProcessingInProgress, reason: "OCR vendor outage", paused_by: "alice" });
    expect(pause!.expires_at!.getTime() - Date.now()).toBeGreaterThan(7000_000);

    const page = await openConsole(a);
    expect(page.html).toContain("OCR vendor outage");
    expect(page.html).toMatch(/Resume ProcessingInProgress/);

    const resumed = await post(a, "/admin/console/resume", { csrf: token, rule: "ProcessingInProgress", reason: "vendor back", by: "bob" }, { cookie });
    expect(resumed.status).toBe(303);
    expect(await openPauses()).toEqual([]);
    const [ended] = await db.$queryRaw<{ ended_by: string; ended_how: string }[]>`SELECT ended_by, ended_how::text FROM sweep_pauses`;
    expect(ended).toEqual({ ended_by: "bob", ended_how: "RESUMED" });
    expect(await actions()).toEqual([
      { action: "pause", actor: "alice", reason: "OCR vendor outage", via: "console", details: expect.objectContaining({ rule: "ProcessingInProgress" }) },
      { action: "resume", actor: "bob", reason: "vendor back", via: "console", details: expect.objectContaining({ resumed: ["ProcessingInProgress"] }) },
    ]);
    expect((await openConsole(a)).html).toMatch(/<td data-label="Action">resume<\/td><td data-label="By">bob<\/td><td data-label="Why">vendor back<\/td>/);
  });

  it("pause of every rule (no expiry), then resume of every pause: each takes effect and is audited with the name and reason given", async () => {
    const a = await start();
    const { cookie, token } = await openConsole(a);
    const paused = await post(a, "/admin/console/pause", { csrf: token, rule: "", for: "", reason: "database failover", by: "dana" }, { cookie });
    expect(paused.status).toBe(303);
    expect(await openPauses()).toEqual([{ status: null, reason: "database failover", paused_by: "dana", expires_at: null }]);
    expect((await openConsole(a)).html).toContain("every rule is paused</a> by dana: database failover");

    const resumed = await post(a, "/admin/console/resume", { csrf: token, rule: "", reason: "failover done", by: "eve" }, { cookie });
    expect(resumed.status).toBe(303);
    expect(await openPauses()).toEqual([]);
    expect(await actions()).toEqual([
      { action: "pause", actor: "dana", reason: "database failover", via: "console", details: expect.objectContaining({ until: null }) },
      { action: "resume", actor: "eve", reason: "failover done", via: "console", details: expect.objectContaining({ rule: "every pause" }) },
    ]);
  });

  it("release of a held status queues one sweep that acts on it, released by the name given", async () => {
    const a = await start();
    const redis = new Redis(testRedisUrl());
    await redis.set(lastSweepHeldKey(a.prefix), JSON.stringify({ ProcessingInProgress: { stuck: 900, limit: 500, maxTasks: 500, maxShare: 0.1, population: 1000 } }));
    await redis.quit();
    const { cookie, token, html } = await openConsole(a);
    expect(html).toContain("HELD by the last sweep: 900 stuck &gt; limit 500");
    const response = await post(a, "/admin/console/release", { csrf: token, rule: "ProcessingInProgress", reason: "checked: a real outage, reverting is right", by: "carol" }, { cookie });
    expect(response.status).toBe(303);
    const queue = new Queue(SWEEP_QUEUE, { connection: { url: testRedisUrl() }, prefix: a.prefix });
    try {
      const jobs = await queue.getJobs(["waiting", "active", "completed", "failed"]);
      const released = jobs.find((j) => j.data.releasedBy === "carol");
      expect(released?.data).toEqual({ dryRun: false, release: ["ProcessingInProgress"], releasedBy: "carol" });
      expect(await actions()).toEqual([{ action: "release", actor: "carol", reason: "checked: a real outage, reverting is right", via: "console", details: { statuses: ["ProcessingInProgress"], sweepJobId: released!.id, dryRun: false } }]);
    } finally {
      await queue.close();
    }
  });

  it("replay from the form: the given-up event arrives again with its original id, signed; audited", async () => {
    const [task] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 0, organizationId: 7 }]);
    // Written before the worker starts (its relay's cursor then starts after it): only the replay sends it.
    const [event] = await db.$queryRaw<{ id: string }[]>`INSERT INTO task_events (task_id, kind, from_status, to_status, reason, actor, created_at) VALUES (${task}, 'REPROCESSED', 42, 30, 'again', 'test', now() - interval '1 day') RETURNING id::text`;
    await db.$executeRaw`INSERT INTO webhook_given_up (event_id, organization_id, attempts, last_error) VALUES (${event!.id}::bigint, 7, 12, 'answered 503')`;
    const a = await start();
    const { cookie, token, html } = await openConsole(a);
    expect(html).toContain(`evt_${event!.id}`);
    expect(html).toContain("1 event(s) given up");
    const response = await post(a, "/admin/console/replay", { csrf: token, givenUp: "true", reason: "receiver fixed", by: "dave" }, { cookie });
    expect(response.status).toBe(303);
    await expect.poll(async () => (await db.$queryRaw<{ n: number }[]>`SELECT count(delivered_at)::int AS n FROM webhook_replays`)[0]!.n, { timeout: 10_000 }).toBe(1);
    expect(receiver.delivered).toHaveLength(1);
    expect(receiver.delivered[0]).toMatchObject({ webhookId: `evt_${event!.id}`, organizationId: 7 });
    expect(receiver.delivered[0]!.verified).toBe(true);
    expect(await actions()).toEqual([{ action: "replay", actor: "dave", reason: "receiver fixed", via: "console", details: expect.objectContaining({ events: 1, selection: { givenUp: true, organizationId: null } }) }]);
    await expect.poll(async () => (await openConsole(a)).html, { timeout: 5000 }).toContain("No given-up event waits for a replay.");
  });

  it("a bad request is a 400 page naming what is wrong, and nothing is written", async () => {
    const a = await start();
    const { cookie, token } = await openConsole(a);
    const cases: [string, Record<string, string>, RegExp][] = [
      ["/admin/console/pause", { rule: "NoSuchStatus", reason: "r", by: "x" }, /rule must be a status name or code that has a rule/],
      ["/admin/console/pause", { by: "x" }, /reason/],
      ["/admin/console/resume", { by: "x", reason: "r" }, /NotFound: nothing is paused/],
      ["/admin/console/resume", { by: "x" }, /reason/],
      ["/admin/console/release", { rule: "ProcessingInProgress", by: "x" }, /reason/],
      ["/admin/console/replay", { reason: "r", by: "x" }, /say which events to replay/],
      ["/admin/console/replay", { event: "evt_999999", reason: "r", by: "x" }, /NotFound: no event evt_999999/],
      ["/admin/console/replay", { organization: "7", since: "2026-12-04T10:00:00", reason: "r", by: "x" }, /until is needed with since/],
      // Past PostgreSQL's bigint: no event can have that id (it was a 500).
      ["/admin/console/replay", { event: "evt_9999999999999999999", reason: "r", by: "x" }, /event\[0\] must be an event id such as evt_42/],
    ];
    for (const [path, fields, message] of cases) {
      const response = await post(a, path, { ...fields, csrf: token }, { cookie });
      expect([400, 404], path).toContain(response.status);
      expect(await response.text(), JSON.stringify(fields)).toMatch(message);
    }
    // A field given twice is refused, not decided by the last one (it paused the second rule).
    const twice = await post(a, "/admin/console/pause", `rule=ProcessingInProgress&rule=PreProcessingInProgress&reason=r&by=x&csrf=${token}`, { cookie });
    expect(twice.status).toBe(400);
    expect(await twice.text()).toMatch(/rule is given 2 times; give it once/);
    // So is a field the form does not have, whatever its name.
    for (const name of ["__proto__", "rulez"]) {
      const unknown = await post(a, "/admin/console/pause", `${name}=x&reason=r&by=x&csrf=${token}`, { cookie });
      expect(unknown.status, name).toBe(400);
      expect(await unknown.text(), name).toMatch(new RegExp(`unknown field &quot;${name}&quot;|unknown field "${name}"`));
    }
    const json = await fetch(`${a.opsUrl}/admin/events/replay`, {
      method: "POST",
      headers: { authorization: AUTH, "content-type": "application/json" },
      body: JSON.stringify({ event: "evt_9223372036854775808", by: "x", reason: "r" }),
    });
    expect(json.status).toBe(400);
    expect(((await json.json()) as { error: string }).error).toMatch(/event must be an event id such as evt_42/);
    expect(await actions()).toEqual([]);
    expect(await openPauses()).toEqual([]);
  });

  it("the ops endpoint replays by organization and time range (JSON, 202), audited as ops-api", async () => {
    // Written before the worker starts, so the live relay (which starts at its first start) never sends them.
    const [task] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 0, organizationId: 7 }]);
    const ids = await db.$queryRaw<{ id: string }[]>`
      INSERT INTO task_events (task_id, kind, from_status, to_status, reason, actor, created_at)
      SELECT ${task}, 'REPROCESSED', 42, 30, 'n' || g, 'test', timestamptz '2026-11-01T10:00:00Z' + g * interval '1 hour' FROM generate_series(0, 4) g RETURNING id::text`;
    const a = await start();
    const response = await fetch(`${a.opsUrl}/admin/events/replay`, {
      method: "POST",
      headers: { authorization: AUTH, "content-type": "application/json" },
      body: JSON.stringify({ organization: 7, since: "2026-11-01T11:00:00Z", until: "2026-11-01T14:00:00Z", by: "erin", reason: "customer lost a day" }),
    });
    expect(response.status).toBe(202);
    expect(await response.json()).toMatchObject({ events: 3, alreadyPending: 0, organizationIds: [7], jobId: expect.stringMatching(/^replay-\d+$/) });
    await receiver.waitFor((r) => r.delivered.length >= 3);
    expect(receiver.delivered.map((d) => d.webhookId).sort()).toEqual(ids.slice(1, 4).map((r) => `evt_${r.id}`).sort());
    expect(receiver.delivered.every((d) => d.verified)).toBe(true);
    expect((await actions())[0]).toMatchObject({ action: "replay", actor: "erin", via: "ops-api" });
  });
});
