// `watchdog stuck` shows what the next sweep would hold and which tasks need support.
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { TaskStatus as S } from "../../src/rules/status.js";
import { insertTasks, resetTables, testDatabaseUrl, testDb } from "../support/db.js";
import { testRedisUrl, uniquePrefix } from "../support/redis.js";
import { runCli } from "../support/worker-process.js";

const db = testDb();
const H = 3600;

beforeEach(() => resetTables(db));
afterAll(() => db.$disconnect());

describe("watchdog stuck --json", () => {
  it("says a status over its hold limit would be held, and lists the tasks reverted ESCALATE_AFTER_REVERTS times that are still warned", async () => {
    await insertTasks(db, Array.from({ length: 501 }, () => ({ status: S.ProcessingInProgress, ageSeconds: 5 * H })));
    await insertTasks(db, [{ status: S.QueuedForExport, ageSeconds: 2 * H }]);
    const [again, cleared] = await insertTasks(db, [
      { status: S.ProcessingFailed, ageSeconds: 60 },
      { status: S.ProcessingFailed, ageSeconds: 60 },
    ]);
    await db.$executeRaw`UPDATE tasks SET auto_revert_count = 3, warning = (id = ${again!}), warning_reason = 'stuck again for the 3rd time' WHERE id IN (${again!}, ${cleared!})`;
    const env = { DATABASE_URL: testDatabaseUrl(), REDIS_URL: testRedisUrl(), QUEUE_PREFIX: uniquePrefix() };
    const cli = runCli(["stuck", "--json"], env);
    expect(await cli.exited).toMatchObject({ code: 0 });
    const report = JSON.parse(cli.lines().map((l) => (l.raw ? l.msg : JSON.stringify(l))).join("\n"));
    expect(report.stuck.find((r: { status: string }) => r.status === "ProcessingInProgress")).toMatchObject({ count: 501, holdLimit: 500, wouldHold: true, workspaces: "others" });
    expect(report.stuck.find((r: { status: string }) => r.status === "QueuedForExport")).toMatchObject({ count: 1, holdLimit: 500, wouldHold: false });
    expect(report.stuck.find((r: { status: string }) => r.status === "Processed")).toMatchObject({ count: 0, holdLimit: null, wouldHold: false });
    expect(report.needsSupport).toMatchObject({ minReverts: 3, total: 1, tasks: [{ id: again, autoRevertCount: 3, status: S.ProcessingFailed }] });
  }, 30_000);
});
