// A workspace override that switches a rule off (`{"workspaceIds":[8],"enabled":false}`, the example
// of docs/rules.md and examples/rules.json) stops the sweep acting there; it does not make the
// machine work finish sooner. The reprocess guard keeps the rule's threshold for that workspace
// (docs/reprocess.md), through every surface: the CLI (exit 4), HTTP (409) and the queue (Conflict,
// decided on the locked row). `watchdog rules --json` shows what the guard uses, never an empty threshold.
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildRules } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { RESTART_PROCESSING_PATH } from "../../src/api/restart-processing.js";
import { enqueueReprocess } from "../../src/reprocess/reprocess-queue.js";
import { insertTasks, resetTables, testDatabaseUrl, testDb } from "../support/db.js";
import { testRedisUrl } from "../support/redis.js";
import { reprocessEventsOf, reprocessHarness, reprocessRow, type ReprocessHarness } from "../support/reprocess-harness.js";
import { runCli } from "../support/worker-process.js";
import { ORG_8_TOKEN, startApp } from "./http-app.js";

const db = testDb();
let h: ReprocessHarness;
const H = 3600;

const SWITCHED_OFF = { ProcessingInProgress: { workspaces: [{ workspaceIds: [8], enabled: false }] } };
const rules = buildRules(SWITCHED_OFF);

beforeEach(async () => {
  await resetTables(db);
  h = await reprocessHarness();
});
afterEach(() => h.close());
afterAll(() => db.$disconnect());

const env = () => ({ DATABASE_URL: testDatabaseUrl(), REDIS_URL: testRedisUrl(), QUEUE_PREFIX: h.prefix, LOG_LEVEL: "silent", RULES_JSON: JSON.stringify(SWITCHED_OFF) });

describe("when workspace 8 switches ProcessingInProgress (PT4H) off", () => {
  it("then `watchdog reprocess` of a task 1 h into it is refused with exit 4 and the rule's threshold, and nothing is enqueued", async () => {
    const [id] = await insertTasks(db, [{ status: S.ProcessingInProgress, ageSeconds: H, workspaceId: 8 }]);
    const cli = runCli(["reprocess", "--task-id", String(id)], env());
    const exit = await cli.exited;
    expect({ code: exit.code, stdout: cli.lines() }).toEqual({ code: 4, stdout: [] });
    expect(cli.stderr()).toMatch(new RegExp(`^watchdog: Conflict: task ${id} is ProcessingInProgress \\(41\\) for 36\\d\\d s, not yet past its threshold of 14400 s`));
    expect(await h.queue.getJobCounts("waiting", "delayed")).toEqual({ waiting: 0, delayed: 0 });
  });

  it("then PATCH …/restartprocessing of a task 20 minutes into it is 409 and the task is untouched", async () => {
    const app = await startApp({}, { rules });
    try {
      const [id] = await insertTasks(db, [{ status: S.ProcessingInProgress, ageSeconds: 20 * 60, workspaceId: 8, organizationId: 8 }]);
      const response = await fetch(`${app.apiUrl}${RESTART_PROCESSING_PATH}?taskId=${id}`, { method: "PATCH", headers: { authorization: `Bearer ${ORG_8_TOKEN}` } });
      expect(response.status).toBe(409);
      expect(response.headers.get("x-error")).toMatch(/not yet past its threshold of 14400 s/);
      expect(await reprocessRow(db, id!)).toMatchObject({ status: S.ProcessingInProgress, restart_count: 0 });
    } finally {
      await app.stop();
    }
  });

  it("then the worker refuses a queued request for it (decided on the locked row), and applies one past the rule's threshold", async () => {
    const [young, old] = await insertTasks(db, [
      { status: S.ProcessingInProgress, ageSeconds: H, workspaceId: 8 },
      { status: S.ProcessingInProgress, ageSeconds: 4 * H + 60, workspaceId: 8 },
    ]);
    h.startWorker(db, 2, { rules });
    await expect(h.finished(await enqueueReprocess(h.queue, { taskId: young }))).rejects.toThrow(/^Conflict: .*not yet past its threshold of 14400 s/);
    expect(await reprocessEventsOf(db, young!)).toEqual([]);
    expect(await h.finished(await enqueueReprocess(h.queue, { taskId: old }))).toMatchObject({ taskId: old, restartCount: 1 });
  });

  it("then `watchdog rules --json` shows the override off, with the threshold the guard uses there (never an empty stuckAfter)", async () => {
    const cli = runCli(["rules", "--json"], env());
    expect((await cli.exited).code).toBe(0);
    const printed = JSON.parse(cli.lines().map((l) => (l.raw ? l.msg : JSON.stringify(l))).join("\n")) as { status: string; workspaces: Record<string, unknown>[] }[];
    const rule = printed.find((r) => r.status === "ProcessingInProgress")!;
    expect(rule.workspaces).toHaveLength(1);
    expect(rule.workspaces[0]).toMatchObject({ workspaceIds: [8], enabled: false, stuckAfter: "PT4H", stuckAfterSeconds: 14400 });
    for (const r of printed) for (const o of r.workspaces) expect(o.stuckAfter, JSON.stringify(o)).not.toBe("");
  });
});
