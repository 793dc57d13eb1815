// Every consumer of the rules gives the same answer for a (status, workspace), on randomized rule
// sets (seeded, test/support/prng.ts): the sweep (a dry run's counts), the reprocess guard (the
// worker's statement on the locked row, and the check the CLI and HTTP make first), the read API
// (`stuck` filter in SQL and `stuck` field in each body), the metrics (watchdog_tasks_stuck) and
// `watchdog stuck --json`. Tasks sit one minute either side of every threshold in play, in
// workspaces with and without overrides. Time is written as timestamps, never slept.
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/platform/db/client.js";
import { reprocessTask } from "../../src/reprocess/sql/reprocess-task.js";
import { decideReprocess, guardThresholdSeconds } from "../../src/reprocess/reprocess-guard.js";
import { buildRules, type Rule } from "../../src/rules/rules.js";
import { findStatus, TaskStatus as S } from "../../src/rules/status.js";
import { TASK_STATUS_LIST_PATH } from "../../src/api/read-api/task-status-list.js";
import { isStuck, resolve, thresholdRows } from "../../src/rules/resolve.js";
import { runSweep } from "../../src/sweep/run-sweep.js";
import { insertTasks, resetTables, testDatabaseUrl, testDb, type TaskFixture } from "../support/db.js";
import { mulberry32 } from "../support/prng.js";
import { testRedisUrl, uniquePrefix } from "../support/redis.js";
import { runCli } from "../support/worker-process.js";
import { ORG_7_TOKEN, sample, startApp } from "./http-app.js";

const db = testDb();
beforeEach(() => resetTables(db));
afterAll(() => db.$disconnect());

const DURATIONS: [string, number][] = [
  ["PT10M", 600],
  ["PT30M", 1800],
  ["PT1H", 3600],
  ["PT2H", 7200],
  ["PT5H", 18000],
];
/** Statuses in play: three transient (revert, revert, flag) and one archivable (move to history). */
const STATUSES = [S.ProcessingInProgress, S.PreProcessingInProgress, S.QueuedForExport, S.Processed];
const WORKSPACES = [1, 2, 3, 4, 5, 6];

function randomRules(seed: number): { overrides: Record<string, unknown>; rules: Rule[] } {
  const next = mulberry32(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const overrides: Record<string, unknown> = {};
  for (const status of STATUSES) {
    const workspaces: Record<string, unknown>[] = [];
    for (const w of WORKSPACES.slice(1)) {
      const kind = pick(["none", "none", "on", "off", "off-own"] as const);
      if (kind === "on") workspaces.push({ workspaceIds: [w], stuckAfter: pick(DURATIONS)[0] });
      if (kind === "off") workspaces.push({ workspaceIds: [w], enabled: false });
      if (kind === "off-own") workspaces.push({ workspaceIds: [w], enabled: false, stuckAfter: pick(DURATIONS)[0] });
    }
    overrides[findStatus(status)!.name] = {
      enabled: next() < 0.7,
      stuckAfter: pick(DURATIONS)[0],
      hold: false,
      ...(status === S.QueuedForExport ? { action: "flag" } : {}),
      ...(workspaces.length > 0 ? { workspaces } : {}),
    };
  }
  return { overrides, rules: buildRules(overrides) };
}

/** One task a minute either side of every threshold, per status and workspace (organization 7). */
function fixtures(): TaskFixture[] {
  return STATUSES.flatMap((status) =>
    WORKSPACES.flatMap((workspaceId) => DURATIONS.flatMap(([, seconds]) => [seconds - 60, seconds + 60].map((ageSeconds) => ({ status, workspaceId, ageSeconds, organizationId: 7 })))),
  );
}

describe.each([20261204, 7, 42])("rule set of seed %i", (seed) => {
  it("the sweep, the guard, the read API, the metrics and `watchdog stuck` agree with the resolver on every task", async () => {
    const { overrides, rules } = randomRules(seed);
    const all = fixtures();
    const ids = await insertTasks(db, all);
    const tasks = all.map((f, i) => ({ ...f, id: ids[i]!, r: resolve(rules, f.status, f.workspaceId!) }));
    const expectedStuck = tasks.filter((t) => isStuck(t.r, { location: "INBOX", secondsInStatus: t.ageSeconds }));
    const stuckCount = (status: number) => expectedStuck.filter((t) => t.status === status).length;
    // The rule sets must exercise both verdicts, and unwatched tasks past their threshold.
    expect(expectedStuck.length).toBeGreaterThan(0);
    expect(tasks.some((t) => !t.r.watched && t.ageSeconds > t.r.stuckAfterSeconds!)).toBe(true);

    // The sweep: a dry run's count per status.
    const dry = await runSweep(db, rules, { sweepId: `agree-${seed}`, dryRun: true, batchSize: 1000 });
    for (const status of STATUSES) expect(dry.byStatus[findStatus(status)!.name]?.count ?? 0, `sweep, ${findStatus(status)!.name}`).toBe(stuckCount(status));

    // The guard: the pre-check of the CLI and HTTP, and the worker's statement on the locked row (rolled back).
    const transient = tasks.filter((t) => findStatus(t.status)!.kind === "transient");
    const jsAllowed = transient.map((t) => decideReprocess({ status: t.status, statusAgeSeconds: t.ageSeconds, thresholdSeconds: guardThresholdSeconds(rules, t.status, t.workspaceId!), force: false }).allowed);
    const sqlAllowed = await guardInSql(rules, transient.map((t) => t.id));
    expect(sqlAllowed).toEqual(jsAllowed);
    transient.forEach((t, i) => {
      // In flight exactly until the threshold the resolver gives, watched or not; and where watched, allowed ⇔ stuck.
      expect(jsAllowed[i], `guard, task ${t.id}`).toBe(t.ageSeconds > t.r.stuckAfterSeconds!);
      if (t.r.watched) expect(jsAllowed[i]).toBe(expectedStuck.includes(t));
    });

    const app = await startApp({}, { rules });
    try {
      // The read API: the SQL filter and each body's field.
      const listed = await fetch(`${app.apiUrl}${TASK_STATUS_LIST_PATH}?stuck=true&limit=500`, { headers: { authorization: `Bearer ${ORG_7_TOKEN}` } });
      const body = (await listed.json()) as { tasks: { taskId: number; stuck: boolean; stuckAfterSeconds: number | null }[]; nextCursor: string | null };
      expect(body.nextCursor).toBeNull();
      expect(body.tasks.map((t) => t.taskId).sort((a, b) => a - b)).toEqual(expectedStuck.map((t) => t.id).sort((a, b) => a - b));
      expect(body.tasks.every((t) => t.stuck)).toBe(true);
      const everything = (await (await fetch(`${app.apiUrl}${TASK_STATUS_LIST_PATH}?limit=500`, { headers: { authorization: `Bearer ${ORG_7_TOKEN}` } })).json()) as typeof body;
      for (const t of tasks) {
        const shown = everything.tasks.find((b) => b.taskId === t.id)!;
        expect(shown, `read API, task ${t.id}`).toMatchObject({ stuck: expectedStuck.includes(t), stuckAfterSeconds: t.r.watched ? t.r.stuckAfterSeconds : null });
      }
      // The metrics.
      const metrics = await (await fetch(`${app.opsUrl}/metrics`)).text();
      for (const status of STATUSES) {
        const name = findStatus(status)!.name;
        const rule = rules.find((r) => r.status === status)!;
        const watchedAnywhere = rule.enabled || rule.workspaces.some((o) => o.enabled);
        expect(sample(metrics, "watchdog_tasks_stuck", { status: name }) ?? (watchedAnywhere ? undefined : 0), `metrics, ${name}`).toBe(stuckCount(status));
      }
    } finally {
      await app.stop();
    }

    // `watchdog stuck --json`, as an operator runs it.
    const cli = runCli(["stuck", "--json"], { DATABASE_URL: testDatabaseUrl(), REDIS_URL: testRedisUrl(), QUEUE_PREFIX: uniquePrefix(), RULES_JSON: JSON.stringify(overrides) });
    expect((await cli.exited).code, cli.stderr()).toBe(0);
    const report = JSON.parse(cli.lines().map((l) => (l.raw ? l.msg : JSON.stringify(l))).join("\n")) as { stuck: { code: number; count: number }[] };
    for (const status of STATUSES) expect(report.stuck.filter((r) => r.code === status).reduce((n, r) => n + r.count, 0), `stuck CLI, ${status}`).toBe(stuckCount(status));
  });
});

/** The worker's reprocess statement for each task, in one transaction that is rolled back: allowed = applied. */
async function guardInSql(rules: readonly Rule[], taskIds: number[]): Promise<boolean[]> {
  const allowed: boolean[] = [];
  const ROLLBACK = new Error("rollback");
  await db
    .$transaction(
      async (tx) => {
        for (const [i, taskId] of taskIds.entries()) {
          const outcome = await reprocessTask(tx as unknown as Db, { taskId }, { requestId: `agree-${i}`, actor: "test", force: false, thresholds: thresholdRows(rules) });
          allowed.push(outcome.kind === "applied");
        }
        throw ROLLBACK;
      },
      { timeout: 60_000 },
    )
    .catch((error: unknown) => {
      if (error !== ROLLBACK) throw error;
    });
  return allowed;
}
