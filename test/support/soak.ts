// The soak with faults: two worker processes (replicas A and B) run sweeps, reprocess requests and
// webhooks while the platform keeps writing stuck tasks and reprocess requests, and the harness breaks
// things at random (seeded, so a failing run is replayed from its seed):
//   Redis (a redis-server of its own, append-only): cut, frozen (behind a TCP proxy), or killed and
//   restarted (SIGKILL; the AOF keeps the queues);
//   PostgreSQL (behind a TCP proxy: the shared server is never touched): cut (every connection reset,
//   as a restart looks to a client) or frozen;
//   replica B: SIGKILL and restart, or SIGTERM (timed against SHUTDOWN_TIMEOUT) and restart.
// Then every fault is healed and the run must settle (within 6 min: a retry waits up to 5): 0 lost (every stuck task reverted, every
// reprocess request completed and applied, every event delivered), 0 double actions (no task reverted
// or reprocessed twice, no webhook-id delivered twice at once), 0 hangs (every shutdown within its
// deadline), and replica A's RSS flat.
import { Queue } from "bullmq";
import { readFileSync } from "node:fs";
import type { Db } from "../../src/platform/db/client.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { KEEP_COMPLETED, REPROCESS_JOB, REPROCESS_QUEUE, SWEEP_JOB, SWEEP_QUEUE } from "../../src/platform/queue-names.js";
import { REPROCESS_JOB_OPTIONS } from "../../src/reprocess/reprocess-queue.js";
import { insertTasks, testDatabaseUrl } from "./db.js";
import { mulberry32 } from "./prng.js";
import { startOwnRedis } from "./redis-server.js";
import { uniquePrefix } from "./redis.js";
import { startTcpProxy } from "./tcp-proxy.js";
import { startWebhookReceiver, webhooksJson } from "./webhook-receiver.js";
import { runCli, type CliProcess } from "./worker-process.js";

const ORGS = [7, 8];
const H = 3600;
const SHUTDOWN_TIMEOUT_MS = 10_000;
/** Everything written must be done this long after the faults are healed. */
const SETTLE_WITHIN_MS = 6 * 60_000;

export type Fault = "redis cut" | "redis freeze" | "redis restart" | "postgres cut" | "postgres freeze" | "replica kill" | "replica restart";
const FAULTS: Fault[] = ["redis cut", "redis freeze", "redis restart", "postgres cut", "postgres freeze", "replica kill", "replica restart"];

export interface SoakFigures {
  seed: number;
  durationMs: number;
  faults: Partial<Record<Fault, number>>;
  written: { stuckTasks: number; reprocessRequests: number; manualSweeps: number; events: number };
  lost: { stuckTasksNotReverted: number; requestsNotCompleted: number; requestsNotApplied: number; eventsNotDelivered: number };
  doubles: { tasksRevertedTwice: number; tasksReprocessedTwice: number; webhookIdsInFlightTwice: number; webhookRedeliveries: number };
  shutdowns: { count: number; maxMs: number; overDeadline: number; exitCodes: Record<string, number> };
  settledMs: number;
  rssMb: { first: number; last: number; max: number; samples: number };
}

export async function soak(db: Db, options: { durationMs: number; seed: number; log?: (line: string) => void }): Promise<SoakFigures> {
  // Two generators: the faults' sequence does not depend on how many tasks were written meanwhile.
  const random = mulberry32(options.seed);
  const platformRandom = mulberry32(options.seed ^ 0x5eed);
  const pick = <T>(items: readonly T[], from = random): T => items[Math.floor(from() * items.length)]!;
  const between = (min: number, max: number) => Math.round(min + random() * (max - min));
  const log = options.log ?? (() => undefined);

  const redis = await startOwnRedis({ persistent: true });
  const redisProxy = await startTcpProxy({ host: "127.0.0.1", port: redis.port });
  const pgProxy = await startTcpProxy();
  const receiver = await startWebhookReceiver(ORGS);
  const prefix = uniquePrefix();
  const reprocess = new Queue(REPROCESS_QUEUE, { connection: { url: redis.url }, prefix });
  const sweeps = new Queue(SWEEP_QUEUE, { connection: { url: redis.url }, prefix });
  for (const q of [reprocess, sweeps]) q.on("error", () => undefined);
  const env = {
    DATABASE_URL: pgProxy.url(testDatabaseUrl()),
    REDIS_URL: redisProxy.url(redis.url),
    QUEUE_PREFIX: prefix,
    API_PORT: "0",
    OPS_PORT: "0",
    LOG_LEVEL: "info",
    SWEEP_INTERVAL: "PT2S",
    SHUTDOWN_TIMEOUT: `PT${SHUTDOWN_TIMEOUT_MS / 1000}S`,
    DATABASE_STATEMENT_TIMEOUT: "PT5S",
    DATABASE_CONNECT_TIMEOUT: "PT3S",
    // Stuck tasks arrive all the time on purpose: not an outage to hold for.
    RULES_JSON: JSON.stringify({ ProcessingInProgress: { hold: false } }),
    WEBHOOKS_JSON: webhooksJson(receiver, ORGS),
    OUTBOX_POLL_INTERVAL: "PT0.2S",
    WEBHOOK_RETRY_DELAY: "PT0.2S",
    WEBHOOK_RETRY_MAX_DELAY: "PT1S",
  };
  const replicaA = runCli(["start"], env);
  let replicaB = runCli(["start"], env);
  const figures: SoakFigures = {
    seed: options.seed,
    durationMs: options.durationMs,
    faults: {},
    written: { stuckTasks: 0, reprocessRequests: 0, manualSweeps: 0, events: 0 },
    lost: { stuckTasksNotReverted: 0, requestsNotCompleted: 0, requestsNotApplied: 0, eventsNotDelivered: 0 },
    doubles: { tasksRevertedTwice: 0, tasksReprocessedTwice: 0, webhookIdsInFlightTwice: 0, webhookRedeliveries: 0 },
    shutdowns: { count: 0, maxMs: 0, overDeadline: 0, exitCodes: {} },
    settledMs: 0,
    rssMb: { first: 0, last: 0, max: 0, samples: 0 },
  };
  const stuckIds: number[] = [];
  const requested: number[] = [];
  const rss: number[] = [];
  const stop = async (worker: CliProcess) => {
    const started = Date.now();
    worker.proc.kill("SIGTERM");
    const { code } = await worker.exited;
    const ms = Date.now() - started;
    figures.shutdowns.count += 1;
    figures.shutdowns.maxMs = Math.max(figures.shutdowns.maxMs, ms);
    if (ms > SHUTDOWN_TIMEOUT_MS) figures.shutdowns.overDeadline += 1;
    figures.shutdowns.exitCodes[String(code)] = (figures.shutdowns.exitCodes[String(code)] ?? 0) + 1;
    return ms;
  };

  let running = true;
  try {
    await replicaA.waitForLog("watchdog started", 60_000);
    await replicaB.waitForLog("watchdog started", 60_000);
    const started = Date.now();

    // The platform: stuck tasks and reprocess requests all the time, a manual sweep now and then.
    const platform = (async () => {
      for (let tick = 0; running; tick += 1) {
        const fresh = await insertTasks(db, [
          ...Array.from({ length: 3 }, () => ({ status: S.ProcessingInProgress, ageSeconds: 5 * H, organizationId: pick(ORGS, platformRandom) })),
          { status: S.ExportFailed, ageSeconds: 60, organizationId: pick(ORGS, platformRandom) },
        ]);
        stuckIds.push(...fresh.slice(0, 3));
        requested.push(fresh[3]!);
        if (tick % 10 === 0) void sweeps.add(SWEEP_JOB, {}, { jobId: `manual-${tick}` }).then(() => (figures.written.manualSweeps += 1), () => undefined);
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    // The producer retries until Redis takes each request; the job id makes a retry of an add that
    // did go through a no-op, so each task is requested exactly once.
    const produced = new Set<number>();
    const producer = (async () => {
      while (running || produced.size < requested.length) {
        for (const id of requested.filter((r) => !produced.has(r))) {
          try {
            await withinMs(3000, reprocess.add(REPROCESS_JOB, { taskId: id, requestedBy: "soak" }, { ...REPROCESS_JOB_OPTIONS, jobId: `soak-${id}` }));
            produced.add(id);
          } catch {
            break;
          }
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const sampler = setInterval(() => {
      const mb = rssMb(replicaA.proc.pid!);
      if (mb !== undefined) rss.push(mb);
    }, 2000);

    // The faults, one after another, until the time is up.
    while (Date.now() - started < options.durationMs) {
      await new Promise((r) => setTimeout(r, between(2000, 5000)));
      const fault = pick(FAULTS);
      const holdMs = between(1000, 8000);
      figures.faults[fault] = (figures.faults[fault] ?? 0) + 1;
      log(`${Math.round((Date.now() - started) / 1000)} s: ${fault}${fault.startsWith("replica") ? "" : ` for ${holdMs} ms`}`);
      switch (fault) {
        case "redis cut":
        case "redis freeze":
          if (fault === "redis cut") redisProxy.cut();
          else redisProxy.freeze();
          await new Promise((r) => setTimeout(r, holdMs));
          redisProxy.restore();
          break;
        case "redis restart":
          await redis.kill();
          await new Promise((r) => setTimeout(r, Math.min(holdMs, 3000)));
          await redis.start();
          break;
        case "postgres cut":
        case "postgres freeze":
          if (fault === "postgres cut") pgProxy.cut();
          else pgProxy.freeze();
          await new Promise((r) => setTimeout(r, holdMs));
          pgProxy.restore();
          break;
        case "replica kill":
          replicaB.proc.kill("SIGKILL");
          await replicaB.exited;
          replicaB = runCli(["start"], env);
          await replicaB.waitForLog("watchdog started", 60_000).catch(() => undefined);
          break;
        case "replica restart":
          log(`  replica B shut down in ${await stop(replicaB)} ms`);
          replicaB = runCli(["start"], env);
          await replicaB.waitForLog("watchdog started", 60_000).catch(() => undefined);
          break;
      }
    }
    running = false;
    redisProxy.restore();
    pgProxy.restore();
    await platform;
    const healedAt = Date.now();
    await producer;
    // A replica B that failed to start during a fault gets another go now that everything is healed.
    if (replicaB.proc.exitCode !== null) {
      replicaB = runCli(["start"], env);
      await replicaB.waitForLog("watchdog started", 60_000);
    }

    // Settle: everything written must be done, within a bound.
    const state = async () => {
      const [counts] = await db.$queryRaw<{ not_reverted: number; not_applied: number; events: number }[]>`
        SELECT (SELECT count(*)::int FROM tasks WHERE id = ANY(${stuckIds}::int[]) AND status = ${S.ProcessingInProgress}) AS not_reverted,
               (SELECT count(*)::int FROM tasks WHERE id = ANY(${requested}::int[]) AND restart_count = 0) AS not_applied,
               (SELECT count(*)::int FROM task_events) AS events`;
      const ids = (await db.$queryRaw<{ id: string }[]>`SELECT id::text FROM task_events`).map((r) => `evt_${r.id}`);
      const states = await Promise.all(requested.map((id) => reprocess.getJobState(`soak-${id}`)));
      // BullMQ keeps the last KEEP_COMPLETED.count completed jobs and removes older ones: past that
      // many requests, a job that is gone ("unknown") completed — but only that overflow may be gone;
      // any more missing jobs were lost. (A 10-minute run once reported 198 "not completed": trimmed.)
      const trimmable = Math.max(0, requested.length - KEEP_COMPLETED.count);
      const completed = states.filter((s) => s === "completed").length + Math.min(trimmable, states.filter((s) => s === "unknown").length);
      return { ...counts!, undelivered: ids.filter((id) => !receiver.ids.has(id)).length, notCompleted: requested.length - completed };
    };
    let last = await state();
    // A request whose attempt failed during a fault waits for its retry: up to 5 min (reprocess-queue.ts).
    while (last.not_reverted + last.not_applied + last.undelivered + last.notCompleted > 0 && Date.now() - healedAt < SETTLE_WITHIN_MS) {
      await new Promise((r) => setTimeout(r, 500));
      last = await state();
    }
    figures.settledMs = Date.now() - healedAt;
    clearInterval(sampler);
    figures.written = { stuckTasks: stuckIds.length, reprocessRequests: requested.length, manualSweeps: figures.written.manualSweeps, events: last.events };
    figures.lost = { stuckTasksNotReverted: last.not_reverted, requestsNotCompleted: last.notCompleted, requestsNotApplied: last.not_applied, eventsNotDelivered: last.undelivered };
    const [twice] = await db.$queryRaw<{ reverted: number; reprocessed: number }[]>`
      SELECT count(*) FILTER (WHERE auto_revert_count > 1)::int AS reverted, count(*) FILTER (WHERE restart_count > 1)::int AS reprocessed FROM tasks`;
    figures.doubles = {
      tasksRevertedTwice: twice!.reverted,
      tasksReprocessedTwice: twice!.reprocessed,
      webhookIdsInFlightTwice: receiver.maxConcurrentPerId > 1 ? 1 : 0,
      webhookRedeliveries: receiver.delivered.length - receiver.ids.size,
    };
    await stop(replicaB);
    await stop(replicaA);
    const steady = rss.slice(Math.floor(rss.length / 5));
    const fifth = Math.max(1, Math.floor(steady.length / 5));
    figures.rssMb = { first: median(steady.slice(0, fifth)), last: median(steady.slice(-fifth)), max: Math.max(...rss), samples: rss.length };
    return figures;
  } finally {
    running = false;
    for (const w of [replicaA, replicaB]) if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill("SIGKILL");
    await reprocess.close().catch(() => undefined);
    await sweeps.close().catch(() => undefined);
    await receiver.close();
    await redisProxy.close();
    await pgProxy.close();
    await redis.stop();
  }
}

function rssMb(pid: number): number | undefined {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kb ? Math.round(Number(kb) / 102.4) / 10 : undefined;
  } catch {
    return undefined;
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

async function withinMs<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  work.catch(() => undefined);
  try {
    return await Promise.race([work, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
