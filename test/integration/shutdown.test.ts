// Shutdown: both workers stop taking jobs at once. While a reprocess request drains, a sweep that
// falls due is not taken (and so not stored as done after stopping at once): it stays for another
// replica. The report says which steps failed, so "shut down cleanly" is only said when none did.
import http from "node:http";
import { Queue } from "bullmq";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { startWatchdog } from "../../src/app.js";
import { buildRules } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { createLogger } from "../../src/platform/logger.js";
import { REPROCESS_JOB, REPROCESS_QUEUE, SWEEP_JOB, SWEEP_QUEUE } from "../../src/platform/queue-names.js";
import { testConfig } from "../support/config.js";
import { holdTransaction, insertTasks, resetTables, testDb, waitForLockWaiter } from "../support/db.js";
import { TASK_STATUS_PATH } from "../../src/api/read-api/task-status.js";
import { deletePrefix, testRedisUrl, uniquePrefix } from "../support/redis.js";

const db = testDb();
let prefix: string;
beforeEach(async () => {
  prefix = uniquePrefix();
  await resetTables(db);
});
afterEach(() => deletePrefix(prefix));
afterAll(() => db.$disconnect());

describe("shutdown", () => {
  it("while a reprocess request drains, a sweep that falls due is left waiting, not taken and stored as done", async () => {
    const [id] = await insertTasks(db, [{ status: S.ExportFailed, ageSeconds: 60 }]);
    const watchdog = await startWatchdog(testConfig(prefix), buildRules(), createLogger({ level: "silent" }));
    const reprocess = new Queue(REPROCESS_QUEUE, { connection: { url: testRedisUrl() }, prefix });
    const sweeps = new Queue(SWEEP_QUEUE, { connection: { url: testRedisUrl() }, prefix });
    // The reprocess request's UPDATE waits behind this lock: it is in flight while we shut down.
    const blocker = await holdTransaction("LOCK TABLE tasks IN SHARE MODE");
    try {
      await reprocess.add(REPROCESS_JOB, { taskId: id, requestedBy: "test" });
      while ((await reprocess.getJobCounts("active")).active === 0) await new Promise((r) => setTimeout(r, 20));
      const closing = watchdog.close();
      const sweep = await sweeps.add(SWEEP_JOB, {});
      // Give a worker that still fetches every chance to take it (a negative can only be waited for).
      await new Promise((r) => setTimeout(r, 1000));
      await blocker.release();
      expect(await closing).toEqual({ failed: [], forced: [] });
      // Never fetched, or fetched in the instant shutdown began and put straight back: due now, for any replica.
      expect(["waiting", "delayed"]).toContain(await sweep.getState());
      expect((await sweeps.getJob(sweep.id!))?.attemptsMade ?? 0).toBe(0);
      expect((await reprocess.getJobCounts("completed")).completed).toBe(1);
    } finally {
      await blocker.release().catch(() => undefined);
      await watchdog.close();
      await reprocess.close();
      await sweeps.close();
    }
  }, 30_000);

  it("a request in flight on a keep-alive connection is answered, then its connection closed: the listener does not wait for the client's idle timeout", async () => {
    const watchdog = await startWatchdog(testConfig(prefix, { SHUTDOWN_TIMEOUT: "PT4S", API_TOKENS: "shutdown-token-0123456789abcdefghij:7" }), buildRules(), createLogger({ level: "silent" }));
    // The read waits behind this lock: it is in flight as the shutdown begins.
    const lock = await holdTransaction("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE");
    const agent = new http.Agent({ keepAlive: true });
    try {
      const answered = new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
        http
          .get(`${watchdog.apiUrl}${TASK_STATUS_PATH}?taskId=1`, { agent, headers: { authorization: "Bearer shutdown-token-0123456789abcdefghij" } }, (res) => {
            res.resume();
            res.on("end", () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
          })
          .on("error", reject);
      });
      await waitForLockWaiter(db);
      const started = Date.now();
      const closing = watchdog.close();
      setTimeout(() => void lock.release(), 200);
      expect(await answered).toEqual({ status: 404, connection: "close" });
      const report = await closing;
      expect(report).toEqual({ failed: [], forced: [] });
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      agent.destroy();
      await lock.release();
      await watchdog.close();
    }
  }, 30_000);
});
