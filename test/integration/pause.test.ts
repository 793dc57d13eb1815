// The pause switch as an operator uses it: `watchdog pause` / `resume` / `status` from the real CLI,
// honoured by every replica at its next sweep (state in PostgreSQL, not Redis), expiring by
// itself by the database clock, audited row by row. Time moves by writing timestamps.
import { createServer, type AddressInfo } from "node:net";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { pauseCommand, resumeCommand } from "../../src/cli/commands/pause.js";
import { printStatus } from "../../src/cli/commands/status.js";
import { buildRules } from "../../src/rules/rules.js";
import { testConfig } from "../support/config.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { pauseSweeps } from "../../src/sweep/sql/pause-sweeps.js";
import { createSweepQueue, enqueueSweep, type SweepJobData } from "../../src/sweep/sweep-queue.js";
import type { SweepJobResult } from "../../src/sweep/sweep-worker.js";
import { getTask, insertTasks, resetTables, testDatabaseUrl, testDb } from "../support/db.js";
import { releaseAction } from "../../src/ops/actions.js";
import { addsForCaller, createRedis, QueueUnavailable } from "../../src/platform/redis.js";
import { settlesWithin } from "../../src/platform/deadline.js";
import { deletePrefix, testRedisUrl, uniquePrefix } from "../support/redis.js";
import { runCli } from "../support/worker-process.js";
import { sample, startApp, type RunningApp } from "./http-app.js";

const db = testDb();
const H = 3600;
let redis: Redis;
let prefix: string;
const apps: RunningApp[] = [];

beforeAll(() => {
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
});
beforeEach(async () => {
  await resetTables(db);
  prefix = uniquePrefix();
});
afterEach(async () => {
  for (const a of apps.splice(0)) await a.stop();
  await deletePrefix(prefix);
  await resetTables(db);
});
afterAll(async () => {
  await redis.quit();
  await db.$disconnect();
});

const replica = async (options: { captureLogs?: boolean } = {}) => {
  const a = await startApp({}, { prefix, ...options });
  apps.push(a);
  return a;
};

/** The CLI as an operator runs it, against this test's database and prefix. */
async function cli(...args: string[]) {
  const run = runCli(args, { DATABASE_URL: testDatabaseUrl(), REDIS_URL: testRedisUrl(), QUEUE_PREFIX: prefix, LOG_LEVEL: "silent" });
  const { code } = await run.exited;
  const out = run.lines().map((l) => (l.raw ? String(l.msg) : JSON.stringify(l))).join("\n");
  return { code, out, err: run.stderr(), json: () => JSON.parse(out) as Record<string, unknown> };
}

/** A command run in-process (the CLI's own functions, without a process start): its stdout, or its CliError. */
async function inProcess(run: (config: ReturnType<typeof testConfig>, rules: ReturnType<typeof buildRules>) => Promise<void>) {
  const printed: string[] = [];
  const log = vi.spyOn(console, "log").mockImplementation((text: string) => void printed.push(text));
  try {
    await run(testConfig(prefix), buildRules());
    return { code: 0, out: printed.join("\n"), err: "", json: () => JSON.parse(printed.join("\n")) as Record<string, unknown> };
  } catch (error) {
    const e = error as Error & { exitCode?: number };
    return { code: e.exitCode ?? 1, out: printed.join("\n"), err: e.message, json: () => ({}) };
  } finally {
    log.mockRestore();
  }
}

async function sweep(data: SweepJobData = {}): Promise<SweepJobResult> {
  const queue = createSweepQueue(redis, prefix);
  try {
    const job = await enqueueSweep(queue, data);
    await expect.poll(() => job.getState(), { timeout: 15_000, interval: 50 }).toMatch(/^(completed|failed)$/);
    const done = (await queue.getJob(job.id!))!;
    expect(done.failedReason).toBeUndefined();
    return done.returnvalue as SweepJobResult;
  } finally {
    await queue.close();
  }
}

const audit = () =>
  db.$queryRaw<{ status: number | null; reason: string; paused_by: string; expired_in_past: boolean; ended_how: string | null; ended_by: string | null; ended_at_is_expiry: boolean | null }[]>`
    SELECT status, reason, paused_by, expires_at < now() AS expired_in_past, ended_how::text, ended_by, ended_at = expires_at AS ended_at_is_expiry
    FROM sweep_pauses ORDER BY id`;

describe("when an operator pauses the sweep with the CLI", () => {
  it("then another replica's next sweep reports what it would do and acts on nothing; resume lets it act again", async () => {
    const first = await replica();
    const [stuck] = await insertTasks(db, [{ status: S.QueuedForProcessing, ageSeconds: 3 * H }]);

    const paused = await cli("pause", "--reason", "pre-processor outage INC-42", "--by", "ann");
    expect(paused.code).toBe(0);
    expect(paused.json()).toMatchObject({ paused: { rule: "all", by: "ann", reason: "pre-processor outage INC-42", until: null }, replaced: null });

    // A replica started before the pause and one started after: neither acts.
    const second = await replica({ captureLogs: true });
    await first.stop();
    apps.splice(apps.indexOf(first), 1);
    const result = await sweep();
    expect(result).toMatchObject({ dryRun: false, reverted: 0, paused: { QueuedForProcessing: { stuck: 1, sampleTaskIds: [stuck] } }, pauses: [{ rule: "all", by: "ann" }] });
    expect(await getTask(db, stuck!)).toMatchObject({ status: S.QueuedForProcessing, warning: false });
    const lines = second.logs().split("\n").filter((l) => l.includes("sweep paused"));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 40, paused: [{ rule: "all", by: "ann", reason: "pre-processor outage INC-42" }] });

    // Visible where an operator looks: the metric, /health/sweeps, `watchdog status`.
    expect(sample(await (await fetch(`${second.opsUrl}/metrics`)).text(), "watchdog_paused", { rule: "all" })).toBe(1);
    expect(sample(await (await fetch(`${second.opsUrl}/metrics`)).text(), "watchdog_paused", { rule: "QueuedForProcessing" })).toBe(0);
    const health = await fetch(`${second.opsUrl}/health/sweeps`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ status: "paused", paused: [{ rule: "all", by: "ann" }], problems: [expect.stringMatching(/^paused: every rule by ann since .* until resumed: pre-processor outage INC-42$/)] });
    const status = await inProcess((config) => printStatus(config, true));
    expect(status.code).toBe(0);
    expect(status.json()).toMatchObject({ acting: false, paused: [{ rule: "all", by: "ann", reason: "pre-processor outage INC-42" }] });

    const table = await inProcess((config) => printStatus(config, false));
    // The first line says why it is not acting, not just that.
    expect(table.out.split("\n")[0]).toMatch(/^Not acting fully: paused \(every rule\) \(\S+, database clock\)\.$/);
    expect(table.out).toMatch(/Paused \(watchdog resume .*\n.*rule +by +since +until +reason\n.*all +ann +\S+ +resumed +pre-processor outage INC-42/);

    const resumed = await cli("resume", "--by", "bob");
    expect(resumed.code).toBe(0);
    expect(resumed.json()).toMatchObject({ resumed: [{ rule: "all", by: "ann", ended: "RESUMED", endedBy: "bob" }], expired: [] });
    expect(await sweep()).toMatchObject({ reverted: 1, paused: {} });
    expect(await getTask(db, stuck!)).toMatchObject({ status: S.ProcessingFailed });
    await expect.poll(async () => (await fetch(`${second.opsUrl}/health/sweeps`)).status, { timeout: 5000, interval: 100 }).toBe(200);
    await expect.poll(async () => sample(await (await fetch(`${second.opsUrl}/metrics`)).text(), "watchdog_paused", { rule: "all" }), { timeout: 5000, interval: 100 }).toBe(0);

    expect(await audit()).toEqual([{ status: null, reason: "pre-processor outage INC-42", paused_by: "ann", expired_in_past: null, ended_how: "RESUMED", ended_by: "bob", ended_at_is_expiry: null }]);
  }, 60_000);

  it("then the pause survives a restart of every replica and the loss of every Redis key", async () => {
    await pauseSweeps(db, { status: null, reason: "maintenance", by: "ann", forSeconds: null });
    const [stuck] = await insertTasks(db, [{ status: S.QueuedForExport, ageSeconds: 3 * H }]);
    await deletePrefix(prefix);
    await replica();
    expect(await sweep()).toMatchObject({ reverted: 0, paused: { QueuedForExport: { stuck: 1 } } });
    expect(await getTask(db, stuck!)).toMatchObject({ status: S.QueuedForExport });
  });
});

describe("when a pause names one rule", () => {
  it("then that rule reports only and the other rules act", async () => {
    const [queued, exporting] = await insertTasks(db, [
      { status: S.QueuedForProcessing, ageSeconds: 3 * H },
      { status: S.QueuedForExport, ageSeconds: 3 * H },
    ]);
    const paused = await cli("pause", "--rule", "QueuedForProcessing", "--for", "PT2H", "--reason", "processor redeploy", "--by", "ann");
    expect(paused.code).toBe(0);
    expect(paused.json()).toMatchObject({ paused: { rule: "QueuedForProcessing", until: expect.any(String) } });
    const a = await replica();
    const result = await sweep();
    expect(result).toMatchObject({ reverted: 1, paused: { QueuedForProcessing: { stuck: 1 } }, byStatus: { QueuedForExport: { count: 1 } } });
    expect(await getTask(db, queued!)).toMatchObject({ status: S.QueuedForProcessing });
    expect(await getTask(db, exporting!)).toMatchObject({ status: S.ToReview });
    const metrics = await (await fetch(`${a.opsUrl}/metrics`)).text();
    expect(sample(metrics, "watchdog_paused", { rule: "QueuedForProcessing" })).toBe(1);
    expect(sample(metrics, "watchdog_paused", { rule: "all" })).toBe(0);

    // Resuming another rule finds nothing to resume: exit 3, the pause stays.
    const other = await inProcess((config, rules) => resumeCommand(config, rules, { rule: "QueuedForExport", by: "bob" }));
    expect(other.code).toBe(3);
    expect(other.err).toMatch(/NotFound: QueuedForExport is not paused on its own/);
    expect(await sweep()).toMatchObject({ paused: { QueuedForProcessing: { stuck: 1 } } });
  }, 60_000);
});

describe("when a pause's time is up", () => {
  it("then the next sweep acts, and records the expiry once, at the expiry time", async () => {
    await pauseSweeps(db, { status: null, reason: "short", by: "ann", forSeconds: 3600 });
    await pauseSweeps(db, { status: S.QueuedForExport, reason: "longer", by: "ann", forSeconds: 3 * 3600 });
    // Two hours pass (by the database clock): the first pause is over, the second is not.
    await db.$executeRaw`UPDATE sweep_pauses SET paused_at = paused_at - interval '2 hours', expires_at = expires_at - interval '2 hours'`;
    const [queued, exporting] = await insertTasks(db, [
      { status: S.QueuedForProcessing, ageSeconds: 3 * H },
      { status: S.QueuedForExport, ageSeconds: 3 * H },
    ]);
    const a = await replica({ captureLogs: true });
    expect(await sweep()).toMatchObject({ reverted: 1, paused: { QueuedForExport: { stuck: 1 } } });
    expect(await getTask(db, queued!)).toMatchObject({ status: S.ProcessingFailed });
    expect(await getTask(db, exporting!)).toMatchObject({ status: S.QueuedForExport });
    await sweep();
    expect(a.logs().split("\n").filter((l) => l.includes("pause of all expired"))).toHaveLength(1);
    expect(await audit()).toEqual([
      { status: null, reason: "short", paused_by: "ann", expired_in_past: true, ended_how: "EXPIRED", ended_by: null, ended_at_is_expiry: true },
      { status: S.QueuedForExport, reason: "longer", paused_by: "ann", expired_in_past: false, ended_how: null, ended_by: null, ended_at_is_expiry: null },
    ]);
  });
});

describe("when the CLI is given bad arguments", () => {
  it("then the process exits 2 naming the flag, and nothing is paused", async () => {
    const run = await cli("pause", "--reason", "outage");
    expect(run.code).toBe(2);
    expect(run.err).toMatch(/^watchdog: BadRequest: --by is missing; it must be a string\n$/);
    expect(await audit()).toEqual([]);
  });

  it.each([
    [{ reason: "x" }, "BadRequest: --by is missing; it must be a string"],
    [{ by: "ann" }, "BadRequest: --reason is missing; it must be a string"],
    [{ reason: " ", by: "ann" }, 'BadRequest: --reason must not be empty: say why, for whoever finds the sweep paused, got the string ""'],
    [{ rule: "ToReview", reason: "x", by: "ann" }, /^BadRequest: --rule names ToReview, which has no rule; statuses with a rule: .*, got the string "ToReview"$/],
    [{ for: "2h", reason: "x", by: "ann" }, /^BadRequest: --for .*ISO-8601.*, got the string "2h"$/],
    [{ for: "P400D", reason: "x", by: "ann" }, 'BadRequest: --for must be at most P365D (leave --for out to pause until resumed), got the string "P400D"'],
    [{ reason: "x", by: "ann\u0007" }, /^BadRequest: --by must not contain control characters/],
    [{ reason: "disk full \u202Edesrever", by: "ann" }, /^BadRequest: --reason must not contain control characters, line separators or bidirectional controls/],
  ])("then pause %j exits 2 with the exact message", async (options, message) => {
    const run = await inProcess((config, rules) => pauseCommand(config, rules, options));
    expect(run.code).toBe(2);
    expect(run.err).toMatch(message);
    expect(await audit()).toEqual([]);
  });

  it("then resume without --by exits 2, and resume with nothing paused exits 3", async () => {
    expect(await inProcess((config, rules) => resumeCommand(config, rules, {}))).toMatchObject({ code: 2, err: "BadRequest: --by is missing; it must be a string" });
    expect(await inProcess((config, rules) => resumeCommand(config, rules, { by: "bob" }))).toMatchObject({ code: 3, err: "NotFound: nothing is paused" });
  });
});

describe("when `watchdog status` cannot reach Redis", () => {
  it("then it fails within seconds naming REDIS_URL instead of hanging", async () => {
    const closed = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const started = performance.now();
    const run = await inProcess((_config, _rules) => printStatus(testConfig(prefix, { REDIS_URL: `redis://127.0.0.1:${closed}` }), true));
    expect(run).toMatchObject({ code: 1, err: expect.stringMatching(/^cannot read the last sweep from Redis \(REDIS_URL\)/) });
    expect(performance.now() - started).toBeLessThan(8000);
  });
});

describe("when a scope is paused twice", () => {
  it("then the newer pause replaces the older without a gap, and both stay in the audit", async () => {
    await pauseSweeps(db, { status: null, reason: "first", by: "ann", forSeconds: 600 });
    const { replaced } = await pauseSweeps(db, { status: null, reason: "extended", by: "bob", forSeconds: 7200 });
    expect(replaced).toMatchObject({ reason: "first", endedHow: "REPLACED", endedBy: "bob" });
    const rows = await audit();
    expect(rows.map((r) => [r.reason, r.ended_how])).toEqual([
      ["first", "REPLACED"],
      ["extended", null],
    ]);
  });
});

describe("when the audit record cannot be written", () => {
  // A trigger of the test's own refuses the audit row of one actor: a fault in the middle of the action.
  beforeAll(async () => {
    await db.$executeRawUnsafe(`CREATE OR REPLACE FUNCTION test_refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.actor = 'audit-fails' THEN RAISE EXCEPTION 'audit write refused (test)'; END IF; RETURN NEW; END $$`);
    await db.$executeRawUnsafe(`CREATE TRIGGER test_refuse_audit BEFORE INSERT ON operator_actions FOR EACH ROW EXECUTE FUNCTION test_refuse_audit()`);
  });
  afterAll(async () => {
    await db.$executeRawUnsafe(`DROP TRIGGER IF EXISTS test_refuse_audit ON operator_actions`);
    await db.$executeRawUnsafe(`DROP FUNCTION IF EXISTS test_refuse_audit()`);
  });
  const openPauses = async () => (await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM sweep_pauses WHERE ended_at IS NULL`)[0]!.n;

  it("then a pause fails whole: no pause without its audit row", async () => {
    expect((await inProcess((config, rules) => pauseCommand(config, rules, { reason: "maintenance", by: "audit-fails" }))).code).not.toBe(0);
    expect(await openPauses()).toBe(0);
  });

  it("then a resume fails whole: the pause stays open", async () => {
    expect((await inProcess((config, rules) => pauseCommand(config, rules, { reason: "maintenance", by: "ann" }))).code).toBe(0);
    expect((await inProcess((config, rules) => resumeCommand(config, rules, { by: "audit-fails" }))).code).not.toBe(0);
    expect(await openPauses()).toBe(1);
  });
});

describe("when a release's audit record cannot be committed, or its sweep cannot be queued", () => {
  // A deferred constraint trigger of the test's own refuses the record of one actor at COMMIT: the
  // insert itself succeeds, the transaction fails at its very end (as a commit that loses its connection).
  beforeAll(async () => {
    await db.$executeRawUnsafe(`CREATE OR REPLACE FUNCTION test_refuse_commit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.actor = 'commit-fails' THEN RAISE EXCEPTION 'commit refused (test)'; END IF; RETURN NULL; END $$`);
    await db.$executeRawUnsafe(`CREATE CONSTRAINT TRIGGER test_refuse_commit AFTER INSERT ON operator_actions DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_refuse_commit()`);
  });
  afterAll(async () => {
    await db.$executeRawUnsafe(`DROP TRIGGER IF EXISTS test_refuse_commit ON operator_actions`);
    await db.$executeRawUnsafe(`DROP FUNCTION IF EXISTS test_refuse_commit()`);
  });
  const releases = () => db.$queryRaw<{ actor: string; details: Record<string, unknown> }[]>`SELECT actor, details FROM operator_actions WHERE action = 'release' ORDER BY id`;
  const queuedJobs = async (queue: ReturnType<typeof createSweepQueue>) => (await queue.getJobs(["waiting", "active", "completed", "failed", "delayed"])).map((j) => j.data.releasedBy);

  it("then a release whose commit fails queues no sweep: no release runs without its audit record", async () => {
    const queue = createSweepQueue(redis, prefix);
    try {
      await expect(releaseAction(db, queue, { release: [S.ProcessingInProgress], by: "commit-fails", reason: "checked" }, "cli")).rejects.toThrow(/commit refused \(test\)/);
      expect(await queuedJobs(queue)).toEqual([]);
      expect(await releases()).toEqual([]);
      // Done again by someone whose record commits: one sweep, one record naming its job.
      const { job } = await releaseAction(db, queue, { release: [S.ProcessingInProgress], by: "carol", reason: "checked" }, "cli");
      expect(await queuedJobs(queue)).toEqual(["carol"]);
      expect(await releases()).toEqual([{ actor: "carol", details: { statuses: ["ProcessingInProgress"], dryRun: false, sweepJobId: job.id } }]);
    } finally {
      await queue.close();
    }
  });

  it("then a release whose sweep cannot be queued (Redis away) fails with the queue's error and leaves no record", async () => {
    const closed = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const away = createRedis(`redis://127.0.0.1:${closed}`, { purpose: "request" });
    away.on("error", () => undefined);
    const queue = createSweepQueue(away, prefix);
    queue.on("error", () => undefined);
    try {
      await expect(releaseAction(db, addsForCaller(queue), { release: [S.ProcessingInProgress], by: "dave", reason: "checked" }, "console")).rejects.toBeInstanceOf(QueueUnavailable);
      expect(await releases()).toEqual([]);
    } finally {
      await settlesWithin(queue.close(), 1000);
      away.disconnect();
    }
  });
});
