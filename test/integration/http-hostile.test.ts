// Hostile input over raw sockets: 2,000 generated malformed requests against the running worker —
// request-line and header abuse, absolute-form targets, bad percent-encodings, NUL and control
// characters, repeated and oversized parameters, oversized headers, bad and cross-organization
// bearer tokens, wrong methods. Generated from a seeded PRNG, so a failure reproduces: the failing
// request's index and bytes are in the assertion message. Then: no 5xx but a deliberate 503, both
// listeners still answer, no task changed, no job enqueued, no event written.
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TaskStatus as S } from "../../src/rules/status.js";
import { TASK_EVENTS_PATH } from "../../src/api/read-api/task-events.js";
import { TASK_STATUS_LIST_PATH } from "../../src/api/read-api/task-status-list.js";
import { TASK_STATUS_PATH } from "../../src/api/read-api/task-status.js";
import { RESTART_PROCESSING_PATH } from "../../src/api/restart-processing.js";
import { createReprocessQueue } from "../../src/reprocess/reprocess-queue.js";
import { createSweepQueue } from "../../src/sweep/sweep-queue.js";
import { insertTasks, resetTables, testDb } from "../support/db.js";
import { rawRequest, type RawAnswer } from "../support/raw-http.js";
import { testRedisUrl } from "../support/redis.js";
import { basic, BOARD_PASSWORD, BOARD_USER, ORG_7_TOKEN, ORG_8_TOKEN, startApp, type RunningApp } from "./http-app.js";
import { mulberry32 } from "../support/prng.js";

export const SEED = 0x5eed_2026;
export const REQUESTS = 2000;
const CONCURRENCY = 16;

/** The seeded generator with the helpers this suite draws with. */
function prng(seed: number) {
  const next = mulberry32(seed);
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  return { next, int, pick, chance: (p: number) => next() < p };
}
type Rng = ReturnType<typeof prng>;

const API_PATHS = [RESTART_PROCESSING_PATH, TASK_STATUS_PATH, TASK_STATUS_LIST_PATH, TASK_EVENTS_PATH];
const OPS_PATHS = ["/healthz", "/readyz", "/health/sweeps", "/metrics", "/admin/queues", "/admin/queues/api/queues"];
const METHODS = ["GET", "PATCH", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "TRACE", "patch", "GeT", "PROPFIND", "BREW", "G ET", "", "\x00GET", "CONNECT"];
const VERSIONS = ["HTTP/1.1", "HTTP/1.0", "HTTP/1.1", "HTTP/1.1", "HTTP/2.0", "HTTP/0.9", "HTTP/1.1x", "HTTP/11", "http/1.1", "", "HTTP/1.1 extra"];
const AUTHORITIES = ["%zz", "[", "[::1", "a:99999", "a:-1", "user:pw@", "@", "a b", "%00", "xn--", "127.0.0.1:0", "[fe80::1%25eth0]", "a".repeat(300), "ex%41mple.com", "::"];
const BAD_ENCODINGS = ["%", "%z", "%zz", "%G0", "%C3", "%ED%A0%80", "%FF%FE", "%C0%AF", "%E2%82", "%%", "%2", "%u0041", "%F4%90%80%80"];
const CONTROLS = ["%00", "%01", "%07", "%0A", "%0D", "%0D%0A", "%1B", "%7F", "%09", "%C2%85"];
const PARAMS = ["taskId", "externalId", "force", "status", "cursor", "limit", "warning", "stuck", "location", "dryRun", "TaskId", "taskid", "task%00Id", "", "access_token"];

const tokenHeader = (rng: Rng): string | null =>
  rng.pick([
    null,
    "Authorization: Bearer",
    "Authorization: Bearer ",
    `Authorization: Bearer ${ORG_7_TOKEN.slice(0, -1)}X`,
    `Authorization: Bearer ${ORG_7_TOKEN}${ORG_7_TOKEN}`,
    `Authorization: bearer ${"A".repeat(rng.int(4000))}`,
    `Authorization: Basic ${Buffer.from(`x:${ORG_7_TOKEN}`).toString("base64")}`,
    `Authorization: Bearer ${ORG_8_TOKEN}`, // cross-organization: org 8 owns no task here
    `Authorization: Bearer ${ORG_8_TOKEN}`,
    "Authorization: Bearer \x01\x02",
    "Authorization: Token abc",
    `Authorization: ${basic(BOARD_USER, BOARD_PASSWORD)}`,
  ]);

/** A query that can never be a valid restart request: it always carries one defect. */
function hostileQuery(rng: Rng): string {
  const parts: string[] = [];
  const n = 1 + rng.int(4);
  for (let i = 0; i < n; i++) {
    const name = rng.pick(PARAMS);
    const value = rng.pick([
      () => String(rng.int(10)),
      () => rng.pick(BAD_ENCODINGS),
      () => `h-1${rng.pick(CONTROLS)}`,
      () => rng.pick(CONTROLS),
      () => "x".repeat(rng.pick([1001, 5000, 12_000])),
      () => "-1",
      () => "2147483648",
      () => "1e3",
      () => "true",
      () => "INV-1",
      () => "",
    ])();
    parts.push(rng.chance(0.1) ? name : `${name}=${value}`);
  }
  if (rng.chance(0.2)) parts.push(...Array.from({ length: rng.pick([2, 50, 1000]) }, () => "taskId=1")); // repeated
  // The defect that makes even the org-7 token's request a refusal: a parameter no endpoint has.
  parts.push(`${rng.pick(["x", "dryRun", "confirm", "taskId%00"])}=${rng.pick(["1", "%00", "true"])}`);
  return parts.join("&");
}

function target(rng: Rng, paths: readonly string[]): string {
  const path = rng.pick(paths);
  switch (rng.int(7)) {
    case 0:
      return `http://${rng.pick(AUTHORITIES)}${rng.chance(0.5) ? path : ""}`;
    case 1:
      return `${rng.pick(["https", "ftp", "javascript", "HTTP", "h"])}://${rng.pick(["localhost", "x", ...AUTHORITIES])}${path}?${hostileQuery(rng)}`;
    case 2:
      return `${path}${rng.pick(BAD_ENCODINGS)}?${hostileQuery(rng)}`;
    case 3:
      return rng.pick(["*", "//x/healthz", "/..%2F..%2Fetc/passwd", "/../admin/queues", "?taskId=1", "healthz", "/%2e%2e/metrics", `/${"a".repeat(20_000)}`]);
    default:
      return `${path}?${hostileQuery(rng)}`;
  }
}

function headers(rng: Rng): string[] {
  const out = ["Host: x"];
  const auth = tokenHeader(rng);
  if (auth) out.push(auth);
  switch (rng.int(10)) {
    case 0:
      out.push(`X-Big: ${"a".repeat(rng.pick([9000, 20_000, 70_000]))}`);
      break;
    case 1:
      for (let i = 0; i < rng.pick([100, 300]); i++) out.push(`X-H${i}: ${i}`);
      break;
    case 2:
      out.push(rng.pick(["No-Colon-Here", "X-Nul: a\x00b", "X-Ctl: \x07", " Leading: space", "X Space: y", ": empty-name", "X-Bare-LF: a\nb"]));
      break;
    case 3:
      out.push(rng.pick(["Content-Length: abc", "Content-Length: -1", "Content-Length: 5\r\nContent-Length: 6", "Transfer-Encoding: chunked\r\nContent-Length: 3", "Transfer-Encoding: gzip, chunked", "Content-Length: 99999999999999999999"]));
      break;
    case 4:
      out.push(`X-Request-Id: ${rng.pick(["a".repeat(129), "x y", "ok-id", "\u00e9", "%00", ""])}`);
      break;
    case 5:
      out.push("Authorization: Bearer second", "Authorization: Bearer third");
      break;
    default:
      break;
  }
  return out;
}

export interface HostileRequest {
  index: number;
  listener: "api" | "ops";
  bytes: string;
}

export function generate(seed = SEED, count = REQUESTS): HostileRequest[] {
  const rng = prng(seed);
  return Array.from({ length: count }, (_, index) => {
    const listener = rng.chance(0.8) ? "api" : "ops";
    const line = rng.chance(0.08)
      ? rng.pick(["GET", "\r\n", "GET / HTTP/1.1 HTTP/1.1", "GET\t/healthz\tHTTP/1.1", "\x16\x03\x01\x02\x00", "PRI * HTTP/2.0", "GET /healthz HTTP/1.1\n"])
      : `${rng.pick(METHODS)} ${target(rng, listener === "api" ? API_PATHS : OPS_PATHS)} ${rng.pick(VERSIONS)}`;
    const eol = rng.chance(0.05) ? "\n" : "\r\n";
    const body = rng.chance(0.1) ? rng.pick(["{", '{"taskId":1}', "\x00\x00", "0\r\n\r\n"]) : "";
    return { index, listener, bytes: `${line}${eol}${headers(rng).join(eol)}${eol}Connection: close${eol}${eol}${body}` };
  });
}

const db = testDb();
let app: RunningApp;
let redis: Redis;

beforeAll(async () => {
  await resetTables(db);
  // Only organization 7 owns tasks, in statuses a restart would change: the org-8 token is the cross-organization one.
  await insertTasks(db, [
    { status: S.ProcessingFailed, ageSeconds: 60, organizationId: 7, externalId: "INV-1" },
    { status: S.ToReview, ageSeconds: 60, organizationId: 7, externalId: "h-1" },
    { status: S.PreProcessingFailed, ageSeconds: 60, organizationId: 7 },
  ]);
  app = await startApp();
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
});
afterAll(async () => {
  await redis.quit();
  await app.stop();
  await db.$disconnect();
});

const snapshot = () => db.$queryRaw<unknown[]>`SELECT id, status, previous_status, restart_count, location::text, warning, warning_reason, status_changed_at FROM tasks ORDER BY id`;

describe(`when ${REQUESTS} generated hostile requests (seed ${SEED.toString(16)}) hit both listeners`, () => {
  it("none is answered 5xx (but a deliberate 503), the worker answers afterwards, no task changed, nothing enqueued", async () => {
    const before = await snapshot();
    const requests = generate();
    const answers: (RawAnswer & { request: HostileRequest })[] = [];
    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < requests.length) {
          const request = requests[next++]!;
          const answer = await rawRequest(request.listener === "api" ? app.apiUrl : app.opsUrl, request.bytes, 5000);
          answers.push({ ...answer, request });
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;

    const byStatus = new Map<string, number>();
    for (const a of answers) byStatus.set(String(a.status ?? "closed, no answer"), (byStatus.get(String(a.status ?? "closed, no answer")) ?? 0) + 1);
    console.log(`hostile HTTP: ${answers.length} requests in ${seconds.toFixed(1)} s; by answer: ${JSON.stringify(Object.fromEntries([...byStatus].sort()))}`);

    const show = (a: (typeof answers)[number]) => `request #${a.request.index} (${a.request.listener}): ${JSON.stringify(a.request.bytes.slice(0, 300))} → ${JSON.stringify(a.text.slice(0, 200))}`;
    for (const a of answers) {
      expect(a.status === null || a.status < 500 || a.status === 503, show(a)).toBe(true);
      expect(a.ended, show(a)).not.toBe("timeout");
    }
    expect(answers).toHaveLength(REQUESTS);

    expect((await fetch(`${app.opsUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${app.opsUrl}/readyz`)).status).toBe(200);
    expect((await fetch(`${app.apiUrl}${TASK_STATUS_PATH}?taskId=1`, { headers: { authorization: `Bearer ${ORG_7_TOKEN}` } })).status).toBe(200);
    expect(await snapshot()).toEqual(before);
    const [{ n }] = (await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM task_events`) as [{ n: number }];
    expect(n).toBe(0);
    for (const queue of [createReprocessQueue(redis, app.prefix), createSweepQueue(redis, app.prefix)]) {
      const counts = await queue.getJobCounts();
      await queue.close();
      expect(Object.values(counts).reduce((a, b) => a + b, 0), `${queue.name}: ${JSON.stringify(counts)}`).toBe(0);
    }
  });

  it("the same seed generates the same requests (a failure reproduces)", () => {
    expect(generate(SEED, 50)).toEqual(generate(SEED, 50));
    expect(generate(SEED + 1, 50)).not.toEqual(generate(SEED, 50));
  });
});
