// Tracing, switched on: one trace runs from the PATCH restartprocessing request through the BullMQ
// job to the PostgreSQL statement that writes the REPROCESSED event, and the worker's log lines carry
// its trace id. The worker runs in a child process whose preload starts tracing into an in-memory
// exporter (instrumentations patch modules as they load, so they must come first, as in production).
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";
import { TaskStatus as S } from "../../src/rules/status.js";
import { insertTasks, resetTables, testDatabaseUrl, testDb } from "../support/db.js";
import { deletePrefix, testRedisUrl, uniquePrefix } from "../support/redis.js";
import { ORG_7_TOKEN } from "./http-app.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const db = testDb();
const prefix = uniquePrefix();
afterAll(async () => {
  await deletePrefix(prefix);
  await db.$disconnect();
});

interface SpanLine {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  attributes: Record<string, unknown>;
}
const SpanKind = { SERVER: 1, CLIENT: 2, PRODUCER: 3, CONSUMER: 4 } as const;

function runTracedWorker(env: Record<string, string>): Promise<{ status: number; spans: SpanLine[]; logs: Record<string, unknown>[] }> {
  const child = spawn(process.execPath, ["--import", "tsx", "--import", "./test/support/traced-preload.ts", "test/support/traced-worker.ts"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 25_000,
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
  return new Promise((resolve, reject) =>
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`traced worker exited ${code}: ${stderr}${stdout}`));
      resolve(JSON.parse(stdout.trim().split("\n").at(-1)!));
    }),
  );
}

it("when a reprocess is requested over HTTP, the request, the job and the REPROCESSED statement share one trace, and the log lines carry it", async () => {
  await resetTables(db);
  const [taskId] = await insertTasks(db, [{ status: S.ToReview, ageSeconds: 60, organizationId: 7 }]);
  const { status, spans, logs } = await runTracedWorker({
    DATABASE_URL: testDatabaseUrl(),
    REDIS_URL: testRedisUrl(),
    QUEUE_PREFIX: prefix,
    API_PORT: "0",
    OPS_PORT: "0",
    LOG_LEVEL: "info",
    SWEEP_SCHEDULE_ENABLED: "false",
    API_TOKENS: `${ORG_7_TOKEN}:7`,
    TRACE_TASK_ID: String(taskId),
    TRACE_TOKEN: ORG_7_TOKEN,
  });
  expect(status).toBe(202);

  const server = spans.find((s) => s.kind === SpanKind.SERVER && s.name.startsWith("PATCH"));
  expect(server, JSON.stringify(spans.map((s) => s.name))).toBeDefined();
  const trace = spans.filter((s) => s.traceId === server!.traceId);
  const byId = new Map(trace.map((s) => [s.spanId, s]));
  const ancestors = (s: SpanLine): string[] => (s.parentSpanId && byId.has(s.parentSpanId) ? [byId.get(s.parentSpanId)!.name, ...ancestors(byId.get(s.parentSpanId)!)] : []);

  const producer = trace.find((s) => s.kind === SpanKind.PRODUCER && s.name.includes("task-reprocess"));
  const consumer = trace.find((s) => s.kind === SpanKind.CONSUMER && s.name.includes("task-reprocess"));
  expect(producer, "the add span of task-reprocess").toBeDefined();
  expect(consumer, "the process span of task-reprocess").toBeDefined();
  const statementText = (s: SpanLine) => String(s.attributes["db.query.text"] ?? s.attributes["db.statement"] ?? "");
  const writesEvent = trace.find((s) => s.kind === SpanKind.CLIENT && /INSERT INTO task_events/i.test(statementText(s)));
  expect(writesEvent, "the statement that writes the REPROCESSED event").toBeDefined();
  // The statement runs inside the job, which the request started: one chain from HTTP to SQL.
  expect(ancestors(writesEvent!)).toContain(consumer!.name);
  expect(ancestors(writesEvent!).at(-1)).toBe(server!.name);

  const reprocessed = logs.find((l) => l.msg === "task reprocessed");
  expect(reprocessed).toMatchObject({ trace_id: server!.traceId });
  const [event] = await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM task_events WHERE task_id = ${taskId} AND kind = 'REPROCESSED'`;
  expect(event!.n).toBe(1);
});

it("with tracing on, a CLI command still ends at the first SIGINT (the preload's hook exports the spans, then lets the signal do what it would)", async () => {
  const { Queue } = await import("bullmq");
  const { SWEEP_QUEUE } = await import("../../src/platform/queue-names.js");
  const ownPrefix = uniquePrefix();
  // `sweep --wait` with no worker running waits for its sweep: it is busy when the signal comes.
  const child = spawn(process.execPath, ["--import", "tsx", "--import", "./src/platform/tracing/preload.ts", "src/cli/main.ts", "sweep", "--wait", "--timeout", "PT20S"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", DATABASE_URL: testDatabaseUrl(), REDIS_URL: testRedisUrl(), QUEUE_PREFIX: ownPrefix, OTEL_TRACES_EXPORTER: "console" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.resume();
  child.stderr.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  const cut = setTimeout(() => child.kill("SIGKILL"), 12_000);
  const queue = new Queue(SWEEP_QUEUE, { connection: { url: testRedisUrl() }, prefix: ownPrefix });
  try {
    await expect.poll(() => queue.getWaitingCount(), { timeout: 10_000, interval: 100 }).toBe(1);
    const signalled = Date.now();
    child.kill("SIGINT");
    expect(await exited.finally(() => clearTimeout(cut))).toEqual({ code: null, signal: "SIGINT" });
    expect(Date.now() - signalled).toBeLessThan(3000);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await queue.close();
    await deletePrefix(ownPrefix);
  }
}, 30_000);
