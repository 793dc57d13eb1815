// Tenants kept in PostgreSQL, managed with the real CLI (`watchdog tokens …`, `watchdog webhooks …`,
// run as child processes) and used by a running worker: a token made by the CLI opens the API at
// once, rotation keeps both tokens valid until the old one's expiry (moved back in SQL), revocation
// closes it; API_TOKENS keeps working beside the table. A webhook endpoint's secret is printed
// once, never listed, and test-send signs with every valid secret (two during a rotation).
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { TaskStatus as S } from "../../src/rules/status.js";
import { RESTART_PROCESSING_PATH } from "../../src/api/restart-processing.js";
import { insertTasks, resetTables, testDatabaseUrl, testDb } from "../support/db.js";
import { testRedisUrl, uniquePrefix } from "../support/redis.js";
import { runCli } from "../support/worker-process.js";
import { ORG_7_TOKEN, startApp, type RunningApp } from "./http-app.js";

const db = testDb();
/** Each step is a real CLI process (a few seconds each from the TypeScript sources): a test runs a dozen. */
const CLI_TEST_TIMEOUT_MS = 120_000;
const SECRETS_KEY = randomBytes(32).toString("base64");
let app: RunningApp;
/** A receiver that keeps each request's headers and body as sent, answering `answer`. */
const requests: { url: string; headers: Record<string, string>; body: string }[] = [];
let answer = 204;
const receiver = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const pick = (name: string) => String(req.headers[name] ?? "");
    requests.push({ url: req.url ?? "", headers: { "webhook-id": pick("webhook-id"), "webhook-timestamp": pick("webhook-timestamp"), "webhook-signature": pick("webhook-signature") }, body: Buffer.concat(chunks).toString("utf8") });
    res.writeHead(answer).end();
  });
});
const receiverUrl = () => `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/9`;
let taskOf9: number;

beforeAll(async () => {
  await resetTables(db);
  await db.$executeRawUnsafe(`TRUNCATE api_tokens, webhook_secrets, webhook_endpoints RESTART IDENTITY CASCADE`);
  taskOf9 = (await insertTasks(db, [{ status: S.ToReview, ageSeconds: 60, organizationId: 9 }]))[0]!;
  app = await startApp();
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
}, 60_000);
afterAll(async () => {
  await app?.stop();
  await new Promise((resolve) => receiver.close(resolve));
  await db.$disconnect();
});

async function cli(args: string[], env: Record<string, string> = {}) {
  const run = runCli(args, { DATABASE_URL: testDatabaseUrl(), REDIS_URL: testRedisUrl(), QUEUE_PREFIX: uniquePrefix(), LOG_LEVEL: "silent", WEBHOOK_SECRETS_KEY: SECRETS_KEY, ...env });
  const { code } = await run.exited;
  const stdout = run.lines().map((l) => (l.raw ? l.msg : JSON.stringify(l))).join("\n");
  return { code, stdout, stderr: run.stderr(), json: () => JSON.parse(stdout) as Record<string, unknown> & { [k: string]: never } };
}

const status = (token: string, taskId = taskOf9) =>
  fetch(`${app.apiUrl}/api/v1.0/external/sdtask/status?taskId=${taskId}`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);

describe("watchdog tokens", () => {
  it("create prints a token once that the running worker accepts at once; list never shows it; rotate keeps both until the old one's expiry; revoke closes it", async () => {
    const created = await cli(["tokens", "create", "--organization-id", "9", "--label", "ci", "--by", "alice"]);
    expect(created.code).toBe(0);
    const { id, token } = JSON.parse(created.stdout) as { id: string; token: string };
    expect(token).toMatch(/^wdt_[A-Za-z0-9_-]{43}$/);
    expect(await status(token)).toBe(200);
    // The organization is the token's: another organization's task is a 404, as with API_TOKENS.
    const [taskOf7] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 60, organizationId: 7 }]);
    expect(await status(token, taskOf7)).toBe(404);
    expect(await status(ORG_7_TOKEN, taskOf7)).toBe(200);
    // PATCH restartprocessing goes through the same authentication; the audit names the token's fingerprint.
    const patched = await fetch(`${app.apiUrl}${RESTART_PROCESSING_PATH}?taskId=${taskOf9}`, { method: "PATCH", headers: { authorization: `Bearer ${token}` } });
    expect(patched.status).toBe(202);

    const listed = await cli(["tokens", "list", "--json"]);
    expect(listed.stdout).not.toContain(token);
    const stored = await db.$queryRawUnsafe<{ dump: string }[]>(`SELECT row_to_json(t)::text AS dump FROM api_tokens t`);
    expect(stored.map((r) => r.dump).join()).not.toContain(token);
    const [row] = JSON.parse(listed.stdout) as { id: string; organizationId: number; fingerprint: string; label: string }[];
    expect(row).toMatchObject({ id, organizationId: 9, label: "ci", fingerprint: expect.stringMatching(/^[0-9a-f]{8}$/) });

    const rotated = await cli(["tokens", "rotate", "--id", id, "--overlap", "PT1H", "--by", "alice"]);
    expect(rotated.code).toBe(0);
    const next = (JSON.parse(rotated.stdout) as { token: string }).token;
    expect([await status(token), await status(next)]).toEqual([200, 200]);
    await db.$executeRawUnsafe(`UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = ${Number(id)}`);
    expect([await status(token), await status(next)]).toEqual([401, 200]);

    const nextId = (JSON.parse(rotated.stdout) as { id: string }).id;
    expect((await cli(["tokens", "revoke", "--id", nextId, "--by", "bob"])).code).toBe(0);
    expect(await status(next)).toBe(401);
    expect(await cli(["tokens", "revoke", "--id", nextId, "--by", "bob"])).toMatchObject({ code: 3, stderr: expect.stringMatching(/^watchdog: NotFound: no valid token has id/) });
  }, CLI_TEST_TIMEOUT_MS);

  it("a request without a token, or with one that is unknown, is 401 with the bearer challenge", async () => {
    const none = await fetch(`${app.apiUrl}/api/v1.0/external/sdtask/status?taskId=${taskOf9}`);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toBe(`Bearer realm="task-watchdog"`);
    const wrong = await fetch(`${app.apiUrl}/api/v1.0/external/sdtask/status?taskId=${taskOf9}`, { headers: { authorization: `Bearer wdt_${"x".repeat(43)}` } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("www-authenticate")).toBe(`Bearer realm="task-watchdog", error="invalid_token"`);
  });
});

describe("text that reaches the lists and the audit columns", () => {
  it("a control character or an unbounded length in --label, --by or --url is refused naming the flag, exit 2, nothing stored", async () => {
    const before = await db.$queryRawUnsafe<{ n: bigint }[]>(`SELECT (SELECT count(*) FROM api_tokens) + (SELECT count(*) FROM webhook_endpoints) AS n`);
    const cases: [string[], RegExp][] = [
      [["tokens", "create", "--organization-id", "9", "--by", "alice", "--label", "a\nb"], /BadRequest: --label must not contain control characters/],
      [["tokens", "create", "--organization-id", "9", "--by", "alice", "--label", "x".repeat(5000)], /BadRequest: --label must be at most 200 characters/],
      [["tokens", "create", "--organization-id", "9", "--by", "al\u001b[2Jice"], /BadRequest: --by must not contain control characters/],
      [["tokens", "revoke", "--id", "1", "--by", "b".repeat(201)], /BadRequest: --by must be at most 200 characters/],
      [["webhooks", "create", "--organization-id", "9", "--by", "alice", "--url", "http://127.0.0.1:1/a\nb"], /BadRequest: --url must not contain control characters/],
      [["webhooks", "create", "--organization-id", "9", "--by", "alice", "--url", `https://hooks.example.com/${"a".repeat(5000)}`], /BadRequest: --url must be at most 2048 characters/],
      [["webhooks", "create", "--organization-id", "9", "--by", "a\nb", "--url", receiverUrl()], /BadRequest: --by must not contain control characters/],
    ];
    for (const [args, message] of cases) {
      const out = await cli(args);
      expect(out.code, out.stderr).toBe(2);
      expect(out.stderr).toMatch(message);
      expect(out.stderr.trim().split("\n"), out.stderr).toHaveLength(1);
    }
    const after = await db.$queryRawUnsafe<{ n: bigint }[]>(`SELECT (SELECT count(*) FROM api_tokens) + (SELECT count(*) FROM webhook_endpoints) AS n`);
    expect(after[0]!.n).toBe(before[0]!.n);
  }, CLI_TEST_TIMEOUT_MS);
});

describe("options checked before connecting", () => {
  it("a missing or bad --by of tokens revoke/rotate and webhooks revoke is exit 2 even when PostgreSQL is away, as for create", async () => {
    // Nothing listens on port 1: an option checked only after connecting would be reported as PostgreSQL unreachable (exit 1).
    const away = { DATABASE_URL: "postgresql://postgres@127.0.0.1:1/task_watchdog" };
    const cases: [string[], RegExp][] = [
      [["tokens", "create", "--organization-id", "9"], /BadRequest: --by is required/],
      [["tokens", "revoke", "--id", "1"], /BadRequest: --by is required/],
      [["tokens", "rotate", "--id", "1", "--by", "a\nb"], /BadRequest: --by must not contain control characters/],
      [["webhooks", "revoke", "--organization-id", "9"], /BadRequest: --by is required/],
    ];
    for (const [args, message] of cases) {
      const out = await cli(args, away);
      expect(out.stderr, args.join(" ")).toMatch(message);
      expect(out.code, out.stderr).toBe(2);
    }
  }, CLI_TEST_TIMEOUT_MS);
});

describe("watchdog webhooks", () => {
  beforeEach(async () => {
    await db.$executeRawUnsafe(`TRUNCATE webhook_secrets, webhook_endpoints RESTART IDENTITY CASCADE`);
  });

  it("create prints the secret once; test-send is verified with it; after rotate it carries two signatures, one per secret; revoke stops it", async () => {
    const created = await cli(["webhooks", "create", "--organization-id", "9", "--url", receiverUrl(), "--by", "alice"]);
    expect(created.code).toBe(0);
    const { secret } = JSON.parse(created.stdout) as { secret: string };
    expect(secret).toMatch(/^whsec_/);
    const listed = await cli(["webhooks", "list", "--json"]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).not.toContain(secret.slice(6, 20));
    const stored = await db.$queryRawUnsafe<{ dump: string }[]>(`SELECT row_to_json(s)::text AS dump FROM webhook_secrets s`);
    expect(stored.map((r) => r.dump).join()).not.toContain(secret.slice(6, 20));

    const sent = await cli(["webhooks", "test-send", "--organization-id", "9"]);
    expect(sent.code).toBe(0);
    expect(JSON.parse(sent.stdout)).toMatchObject({ organizationId: 9, status: 204, ok: true, signatures: 1 });
    const first = requests.at(-1)!;
    expect(JSON.parse(first.body)).toMatchObject({ type: "webhook.test", data: { organizationId: 9 } });
    expect(new Webhook(secret).verify(first.body, first.headers)).toBeTruthy();

    const rotated = await cli(["webhooks", "rotate", "--organization-id", "9", "--overlap", "P1D"]);
    expect(rotated.code).toBe(0);
    const fresh = (JSON.parse(rotated.stdout) as { secret: string }).secret;
    expect((await cli(["webhooks", "test-send", "--organization-id", "9"])).code).toBe(0);
    const second = requests.at(-1)!;
    expect(second.headers["webhook-signature"]!.split(" ")).toHaveLength(2);
    // A receiver holding either secret accepts it: it may switch whenever it likes within the overlap.
    for (const s of [secret, fresh]) expect(new Webhook(s).verify(second.body, second.headers)).toBeTruthy();

    answer = 500;
    expect(await cli(["webhooks", "test-send", "--organization-id", "9"])).toMatchObject({ code: 1, stderr: expect.stringMatching(/hooks\/9 answered 500/) });
    answer = 204;
    expect((await cli(["webhooks", "create", "--organization-id", "9", "--url", receiverUrl(), "--by", "alice"])).code).toBe(4);
    expect((await cli(["webhooks", "revoke", "--organization-id", "9", "--by", "bob"])).code).toBe(0);
    expect(await cli(["webhooks", "test-send", "--organization-id", "9"])).toMatchObject({ code: 3, stderr: expect.stringMatching(/NotFound: organization 9 has no active webhook endpoint/) });
  }, CLI_TEST_TIMEOUT_MS);

  it("test-send with a WEBHOOK_SECRETS_KEY that lacks the endpoint's key: the message alone, exit 1", async () => {
    expect((await cli(["webhooks", "create", "--organization-id", "9", "--url", receiverUrl(), "--by", "alice"])).code).toBe(0);
    const sent = await cli(["webhooks", "test-send", "--organization-id", "9"], { WEBHOOK_SECRETS_KEY: randomBytes(32).toString("base64") });
    expect(sent.code).toBe(1);
    expect(sent.stderr).toMatch(/^watchdog: the webhook secret of organization 9 was sealed with key \S+, which WEBHOOK_SECRETS_KEY does not hold \(it holds \S+\); add that key after the sealing key\n$/);
  }, CLI_TEST_TIMEOUT_MS);

  it("a query string or fragment of the URL (it may carry a token) is never printed back: create and list show origin and path, the id tells endpoints apart; deliveries go to the whole URL", async () => {
    const url = `${receiverUrl()}?token=q-Secret-4711&x=1#f-Secret-0815`;
    const shown = `${receiverUrl()}?<redacted>#<redacted>`;
    const created = await cli(["webhooks", "create", "--organization-id", "9", "--url", url, "--by", "alice"]);
    expect(created.code, created.stderr).toBe(0);
    const { id } = JSON.parse(created.stdout) as { id: string };
    expect(JSON.parse(created.stdout)).toMatchObject({ id, organizationId: 9, url: shown });
    const listed = await cli(["webhooks", "list"]);
    const listedJson = await cli(["webhooks", "list", "--json"]);
    for (const out of [created, listed, listedJson]) expect(`${out.stdout}\n${out.stderr}`).not.toMatch(/Secret-/);
    const row = listed.stdout.split("\n")[1]!;
    expect(row.startsWith(`${id} `) && row.includes(` ${shown} `), row).toBe(true);
    expect(JSON.parse(listedJson.stdout)).toMatchObject([{ id, organizationId: 9, url: shown }]);

    const sent = await cli(["webhooks", "test-send", "--organization-id", "9"]);
    expect(sent.code, sent.stderr).toBe(0);
    expect(`${sent.stdout}\n${sent.stderr}`).not.toMatch(/Secret-/);
    expect(requests.at(-1)!.url).toBe("/hooks/9?token=q-Secret-4711&x=1");
  }, CLI_TEST_TIMEOUT_MS);

  it("refuses a plain-http URL off loopback, naming the flag", async () => {
    const bad = await cli(["webhooks", "create", "--organization-id", "9", "--url", "http://hooks.example.com/x", "--by", "alice"]);
    expect(bad).toMatchObject({ code: 2, stderr: expect.stringMatching(/BadRequest: --url must be https/) });
  });
});
