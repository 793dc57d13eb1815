// A Redis blip against a running worker process, and what it takes to resume: the worker runs with a
// short sweep interval, webhooks for one organization and a TCP proxy between it and a redis-server of
// the test's own. The proxy cuts (connections reset) or freezes (connections open, nothing forwarded)
// for `outageMs`, then forwards again. From the restore on, each kind of work must go through again
// WITHOUT a restart of the worker: the scheduled sweep, a manual sweep, a reprocess request and a
// webhook delivery. Returns the milliseconds from the restore to each, and the shutdown that follows.
import { Queue } from "bullmq";
import type { Db } from "../../src/platform/db/client.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { REPROCESS_JOB, REPROCESS_QUEUE, SWEEP_JOB, SWEEP_QUEUE } from "../../src/platform/queue-names.js";
import { insertTasks, testDatabaseUrl } from "./db.js";
import { startOwnRedis } from "./redis-server.js";
import { uniquePrefix } from "./redis.js";
import { startTcpProxy } from "./tcp-proxy.js";
import { startWebhookReceiver, webhooksJson } from "./webhook-receiver.js";
import { runCli } from "./worker-process.js";

export interface BlipFigures {
  /** From the restore until each kind of work was seen done (ms). */
  resumedMs: { scheduledSweep: number; manualSweep: number; reprocess: number; webhook: number };
  /** SIGTERM after the resume until the process exited, and its exit code. */
  shutdown: { ms: number; code: number | null };
  /** Worker process restarts (always 0: the same process from start to end). */
  restarts: 0;
}

const ORG = 7;
const H = 3600;

export async function redisBlip(db: Db, options: { mode: "cut" | "freeze"; outageMs: number; resumeWithinMs: number }): Promise<BlipFigures> {
  const redis = await startOwnRedis();
  const proxy = await startTcpProxy({ host: "127.0.0.1", port: redis.port });
  const receiver = await startWebhookReceiver([ORG]);
  const prefix = uniquePrefix();
  const sweeps = new Queue(SWEEP_QUEUE, { connection: { url: redis.url }, prefix });
  const reprocess = new Queue(REPROCESS_QUEUE, { connection: { url: redis.url }, prefix });
  const worker = runCli(["start"], {
    DATABASE_URL: testDatabaseUrl(),
    REDIS_URL: proxy.url(redis.url),
    QUEUE_PREFIX: prefix,
    API_PORT: "0",
    OPS_PORT: "0",
    SWEEP_INTERVAL: "PT2S",
    SHUTDOWN_TIMEOUT: "PT10S",
    WEBHOOKS_JSON: webhooksJson(receiver, [ORG]),
    OUTBOX_POLL_INTERVAL: "PT0.2S",
    WEBHOOK_RETRY_DELAY: "PT0.2S",
    WEBHOOK_RETRY_MAX_DELAY: "PT1S",
  });
  try {
    await worker.waitForLog("watchdog started");
    const scheduledSweeps = () => worker.lines().filter((l) => l.msg === "sweep finished" && l.scheduled === true).length;
    await waitUntil(() => scheduledSweeps() > 0, 15_000, "a first scheduled sweep");

    if (options.mode === "cut") proxy.cut();
    else proxy.freeze();
    await new Promise((r) => setTimeout(r, options.outageMs));
    const sweepsBefore = scheduledSweeps();
    // Work that can only be done after the restore: a task stuck now (the scheduled sweep reverts it and
    // its event is a webhook), a task to reprocess, and a manual sweep.
    const [stuck, failed] = await insertTasks(db, [
      { status: S.ProcessingInProgress, ageSeconds: 5 * H, organizationId: ORG },
      { status: S.ExportFailed, ageSeconds: 60, organizationId: ORG },
    ]);
    proxy.restore();
    const restoredAt = Date.now();
    const since = () => Date.now() - restoredAt;
    const deadline = restoredAt + options.resumeWithinMs;

    const manual = await sweeps.add(SWEEP_JOB, { dryRun: true });
    const request = await reprocess.add(REPROCESS_JOB, { taskId: failed, requestedBy: "blip test" });
    const resumed = await Promise.all([
      waitUntil(() => scheduledSweeps() > sweepsBefore, deadline - Date.now(), "a scheduled sweep after the restore").then(since),
      waitUntilAsync(async () => (await manual.getState()) === "completed", deadline, "the manual sweep").then(since),
      waitUntilAsync(async () => (await request.getState()) === "completed", deadline, "the reprocess request").then(since),
      waitUntil(() => receiver.delivered.some((e) => e.body.data.taskId === stuck) && receiver.delivered.some((e) => e.body.data.taskId === failed), deadline - Date.now(), "webhooks for both tasks").then(since),
    ]);
    const stopped = Date.now();
    worker.proc.kill("SIGTERM");
    const { code } = await worker.exited;
    return {
      resumedMs: { scheduledSweep: resumed[0], manualSweep: resumed[1], reprocess: resumed[2], webhook: resumed[3] },
      shutdown: { ms: Date.now() - stopped, code },
      restarts: 0,
    };
  } finally {
    if (worker.proc.exitCode === null && worker.proc.signalCode === null) worker.proc.kill("SIGKILL");
    await sweeps.close();
    await reprocess.close();
    await receiver.close();
    await proxy.close();
    await redis.stop();
  }
}

async function waitUntil(holds: () => boolean, withinMs: number, what: string): Promise<void> {
  const deadline = Date.now() + Math.max(0, withinMs);
  while (!holds()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within the resume deadline`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function waitUntilAsync(holds: () => Promise<boolean>, deadline: number, what: string): Promise<void> {
  while (!(await holds())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within the resume deadline`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
