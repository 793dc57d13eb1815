// `watchdog bulk-reprocess start|status|cancel` as an operator runs it (child processes), with the
// production pacing loop (startBulkLoop) of the test's own applying what the command accepted.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, expect, it } from "vitest";
import { buildRules } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { createLogger } from "../../src/platform/logger.js";
import { startBulkLoop, type BulkLoop } from "../../src/reprocess/bulk-loop.js";
import { holdTransaction, insertTasks, resetTables, testDatabaseUrl, testDb } from "../support/db.js";
import { testRedisUrl } from "../support/redis.js";
import { runCli } from "../support/worker-process.js";

const db = testDb();
let loop: BulkLoop | undefined;
const env = () => ({ DATABASE_URL: testDatabaseUrl(), REDIS_URL: testRedisUrl(), LOG_LEVEL: "silent" });

beforeEach(() => resetTables(db));
afterEach(async () => {
  await loop?.close();
  loop = undefined;
  await db.$executeRaw`UPDATE bulk_reprocesses SET state = 'CANCELLED', finished_at = now() WHERE state = 'RUNNING'`;
});
afterAll(() => db.$disconnect());

async function run(args: string[], extraEnv: Record<string, string> = {}) {
  const cli = runCli(["bulk-reprocess", ...args], { ...env(), ...extraEnv });
  const exit = await cli.exited;
  return { code: exit.code, stderr: cli.stderr(), stdout: cli.lines() };
}

// Five runs of the command (each a Node process of its own, seconds apiece): the refusals are the endpoint's, tested there.
it("previews, starts once per --idempotency-key, reports progress, and refuses to cancel a finished bulk", { timeout: 60_000 }, async () => {
  await insertTasks(db, [
    ...Array.from({ length: 20 }, () => ({ status: S.ProcessingFailed, ageSeconds: 60, organizationId: 7, edits: { a: 1 } })),
    { status: S.Deleting, ageSeconds: 60, organizationId: 7 },
    { status: S.ProcessingFailed, ageSeconds: 60, organizationId: 8 },
  ]);
  const preview = await run(["start", "--organization-id", "7", "--filter", "status=ProcessingFailed,Deleting", "--dry-run"]);
  expect(preview).toMatchObject({ code: 0, stderr: "" });
  expect(preview.stdout).toEqual([
    { dryRun: true, force: false, matched: 21, notFound: 0, wouldApply: 20, wouldRefuse: { total: 1, byReason: { deleting: 1, in_flight: 0, no_rule: 0 } }, forcedPastGuard: 0, discardsEdits: 20, resetsAssignments: 0 },
  ]);

  const args = ["start", "--organization-id", "7", "--filter", "status=ProcessingFailed,Deleting", "--idempotency-key", "ops-42", "--requested-by", "ops:carol"];
  const [first, second] = [await run(args), await run(args)];
  expect(first).toMatchObject({ code: 0, stdout: [{ idempotencyKey: "ops-42", replayed: false, state: "running", total: 21, requestedBy: "ops:carol" }] });
  expect(second).toMatchObject({ code: 0, stdout: [{ idempotencyKey: "ops-42", replayed: true, bulkId: first.stdout[0]!.bulkId }] });
  const bulkId = String(first.stdout[0]!.bulkId);

  loop = startBulkLoop({ db, logger: createLogger({ level: "silent" }), rules: buildRules(), ratePerSecond: 1000 });
  await expect.poll(async () => (await db.$queryRaw<{ state: string }[]>`SELECT state::text FROM bulk_reprocesses WHERE id = ${bulkId}`)[0]!.state, { timeout: 10_000 }).toBe("DONE");
  const status = await run(["status", bulkId, "--organization-id", "7"]);
  expect(status).toMatchObject({ code: 0, stdout: [{ bulkId, state: "done", applied: 20, refused: 1, notFound: 0, pending: 0 }] });
  expect(await db.$queryRaw`SELECT count(*)::int AS n FROM task_events WHERE actor = 'ops:carol' AND details ->> 'bulkId' = ${bulkId}`).toEqual([{ n: 20 }]);

  expect(await run(["cancel", bulkId, "--organization-id", "7"])).toMatchObject({ code: 4, stderr: `watchdog: Conflict: bulk ${bulkId} is already done (20 applied): nothing to cancel\n` });
});

it("past BULK_REPROCESS_MAX_RUNNING a start is refused (exit 4), naming the running bulk and what to do; the same --idempotency-key again still prints its bulk", { timeout: 60_000 }, async () => {
  await insertTasks(db, [{ status: S.ProcessingFailed, ageSeconds: 60, organizationId: 7 }]);
  const cap = { BULK_REPROCESS_MAX_RUNNING: "1" };
  const start = (key: string) => run(["start", "--organization-id", "7", "--task-ids", "1", "--idempotency-key", key], cap);
  const first = await start("first");
  expect(first).toMatchObject({ code: 0, stdout: [{ idempotencyKey: "first", replayed: false, state: "running" }] });
  const bulkId = String(first.stdout[0]!.bulkId);

  expect(await start("second")).toMatchObject({
    code: 4,
    stdout: [],
    stderr:
      `watchdog: Conflict: organization 7 already has 1 bulk reprocess running, the most it may run at once (BULK_REPROCESS_MAX_RUNNING = 1): ${bulkId}; ` +
      "wait for one to finish (watchdog bulk-reprocess status <bulkId> --organization-id 7) or cancel one (watchdog bulk-reprocess cancel <bulkId> --organization-id 7), " +
      "then run this command again with --idempotency-key second; nothing was started\n",
  });
  expect(await start("first")).toMatchObject({ code: 0, stdout: [{ idempotencyKey: "first", replayed: true, bulkId }] });
  expect(await db.$queryRaw`SELECT count(*)::int AS n FROM bulk_reprocesses`).toEqual([{ n: 1 }]);
});

// Refused before anything connects: each a usage error (exit 2) of one short line.
const dir = mkdtempSync(join(tmpdir(), "bulk-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};
const ID = "a whole number from 1 to 2147483647";

it.each([
  [["--task-ids-file", "/nonexistent"], "BadRequest: cannot read --task-ids-file /nonexistent: ENOENT (no such file)"],
  [["--task-ids-file", dir], `BadRequest: cannot read --task-ids-file ${dir}: EISDIR (a directory, not a file)`],
  [["--task-ids-file", "/dev/zero"], "BadRequest: --task-ids-file /dev/zero is larger than 600000 bytes (50000 ids of up to 10 digits, one per line); split the bulk"],
  [["--task-ids-file", file("big", "1\n".repeat(300_001))], `BadRequest: --task-ids-file ${join(dir, "big")} is larger than 600000 bytes (50000 ids of up to 10 digits, one per line); split the bulk`],
  [["--external-ids-file", "/nonexistent"], "BadRequest: cannot read --external-ids-file /nonexistent: ENOENT (no such file)"],
  [
    ["--task-ids-file", file("passwd", "1\nroot:x:0:0\n\n2\nbin\n0\n2147483648\n a b \nsync\nx\ny\n3\n")],
    `BadRequest: --task-ids-file ${join(dir, "passwd")} holds lines that are not task ids (${ID}): line 2 "root:x:0:0"; line 5 "bin"; line 6 "0"; line 7 "2147483648"; line 8 "a b"; and 3 more (8 in all)`,
  ],
  // force and dryRun are flags of the command, never smuggled in through the filter's query.
  [["--filter", "status=41&force=true"], "BadRequest: --filter names force, which is not a filter; give --force instead"],
  [["--filter", "dryRun=false&status=41"], "BadRequest: --filter names dryRun, which is not a filter; give --dry-run instead"],
  [["--task-ids", "1,,2"], `BadRequest: --task-ids holds entries that are not task ids (${ID}): entry 2 is empty`],
  [["--task-ids", "1, 2,x,"], `BadRequest: --task-ids holds entries that are not task ids (${ID}): entry 3 "x"; entry 4 is empty`],
])("start %j is refused with exit code 2 and one short line", { timeout: 30_000 }, async (selection, message) => {
  expect(await run(["start", "--organization-id", "1", ...selection, "--dry-run"])).toEqual({ code: 2, stdout: [], stderr: `watchdog: ${message}\n` });
});

// Who asks becomes the actor and reason of every REPROCESSED event of the bulk, and goes into the logs:
// the single reprocess's rules (reprocess-request.ts), so a newline cannot forge an audit or log line.
const AUDIT = "must not contain control characters, line separators or bidirectional controls (U+202A–U+202E, U+2066–U+2069)";
it.each([
  ["start", "ops:carol\nwatchdog: forced reprocess approved by admin", AUDIT],
  ["start", "ops:\u202Elorac", AUDIT],
  ["start", "   ", "must not be empty"],
  ["start", "x".repeat(201), "must be at most 200 characters, got 201"],
  ["cancel", "ops:carol\r\nforged", AUDIT],
])("%s with --requested-by %j is refused (exit 2) before anything is written", { timeout: 30_000 }, async (command, requestedBy, message) => {
  await insertTasks(db, [{ status: S.ProcessingFailed, ageSeconds: 60, organizationId: 7 }]);
  const args = command === "start" ? ["start", "--organization-id", "7", "--task-ids", "1"] : ["cancel", `bulk_${"0".repeat(32)}`, "--organization-id", "7"];
  expect(await run([...args, "--requested-by", requestedBy])).toEqual({ code: 2, stdout: [], stderr: `watchdog: BadRequest: --requested-by ${message}\n` });
  expect(await db.$queryRaw`SELECT count(*)::int AS n FROM bulk_reprocesses`).toEqual([{ n: 0 }]);
});

it.each([["status"], ["cancel"]])("%s with an empty bulk id is a usage error (exit 2), not a bulk not found", { timeout: 30_000 }, async (command) => {
  expect(await run([command, "", "--organization-id", "1"])).toEqual({ code: 2, stdout: [], stderr: "watchdog: BadRequest: the bulk id is empty; give the bulkId that `watchdog bulk-reprocess start` printed\n" });
});

it("a start that finds the organization's start lock taken exits 1 at once saying why and how to retry; nothing is started", async () => {
  await insertTasks(db, [{ status: S.ProcessingFailed, ageSeconds: 60, organizationId: 7 }]);
  const lock = await holdTransaction(`SELECT pg_advisory_xact_lock(hashtextextended('task-watchdog-bulk-reprocess-start:7', 0))`);
  let refused: Awaited<ReturnType<typeof run>>;
  try {
    refused = await run(["start", "--organization-id", "7", "--task-ids", "1", "--idempotency-key", "refused"]);
  } finally {
    await lock.release();
  }
  expect(refused).toEqual({
    code: 1,
    stdout: [],
    stderr:
      "watchdog: another bulk reprocess start of organization 7 is in progress (it holds the organization's start lock while it inserts its bulk); " +
      "nothing was started: run this command again in 2 seconds with --idempotency-key refused\n",
  });
  expect(await db.$queryRaw`SELECT count(*)::int AS n FROM bulk_reprocesses`).toEqual([{ n: 0 }]);
});
