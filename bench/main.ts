// `npm run bench`: the project's own code paths next to lower bounds written in plain SQL / plain
// BullMQ, in one run, on one machine; every comparison is a ratio within the run. See README,
// "Performance", and `npm run bench -- --help`.
import { loadavg } from "node:os";
import pg from "pg";
import { MIGRATIONS_DIR } from "../src/cli/paths.js";
import { createDb, type Db } from "../src/platform/db/client.js";
import { migrate } from "../src/platform/db/migrate.js";
import { buildRules, probesFor } from "../src/rules/rules.js";
import { createRedis } from "../src/platform/redis.js";
import { measureHistoryMove } from "./figures/history.js";
import { measureRecovery } from "./figures/recovery.js";
import { measureWebhookRecovery } from "./figures/webhooks.js";
import { measureReprocess } from "./figures/reprocess.js";
import { bundleChild, measureRss, type ChildRss } from "./figures/rss.js";
import { measureSteadySweep } from "./figures/steady-sweep.js";
import { IGNORED_ROWS, measureIgnoredRows, measureOverrides, OVERRIDES } from "./figures/sweep-scaling.js";
import { measureNeighbour } from "./figures/neighbour.js";
import { backlogRules } from "./backlog-rules.js";
import { stage } from "./incident.js";
import { infoFigure, log, median, ratioFigure, type Figure } from "./measure.js";
import { parseOptions, UsageError, type BenchOptions } from "./options.js";
import { serverCpuVisible } from "./cpu.js";
import { describeEnvironment, printTable, writeResults } from "./report.js";
import { runScale } from "./scale.js";
import { startCompetitor } from "./competitor.js";
import { freshenTransient, seedRange, tableShape, truncate, vacuumAnalyze } from "./seed.js";

const RSS_LIMIT_MB = 128;
const STEADY_FLAT_LIMIT = 1.5;
const RSS_FLAT_LIMIT = 1.25;

const rowsLabel = (n: number) => (n >= 1_000_000 && n % 1_000_000 === 0 ? `${n / 1_000_000}M` : n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n));

/** The small table lives in its own database next to the large one, so both sizes are measured in the same repetitions. */
function smallDatabaseUrl(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  url.pathname = `${url.pathname}_small`;
  return url.toString();
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const competitor = options.loaded ? startCompetitor() : null;
  try {
    await (options.scale ? runScale(options) : runBench(options));
  } finally {
    competitor?.stop();
  }
}

async function runBench(options: BenchOptions): Promise<void> {
  const loadAtStart = loadavg();
  const started = new Date();
  const rows = { small: Math.floor(options.rows / 10), large: options.rows };
  const urls = { small: smallDatabaseUrl(options.databaseUrl), large: options.databaseUrl };
  const sizes = ["small", "large"] as const;
  log(`rows ${rows.small.toLocaleString()} and ${rows.large.toLocaleString()}, ${options.stuck.toLocaleString()} stuck, ${options.reps} repetitions, batch ${options.batchSize}`);

  for (const size of sizes) await migrate(urls[size], MIGRATIONS_DIR);
  const pools = { small: new pg.Pool({ connectionString: urls.small, max: 5 }), large: new pg.Pool({ connectionString: urls.large, max: 5 }) };
  const dbs = { small: createDb(urls.small, { max: 5 }), large: createDb(urls.large, { max: 5 }) };
  const redis = createRedis(options.redisUrl);
  const rules = buildRules();
  const probes = probesFor(rules);
  const figures: Figure[] = [];
  try {
    const environment = await describeEnvironment(pools.large, redis, loadAtStart);
    const childFiles = { sweep: await bundleChild("sweep"), worker: await bundleChild("worker") };

    for (const size of sizes) {
      log(`seeding ${rows[size].toLocaleString()} rows`);
      await truncate(pools[size]);
      await seedRange(pools[size], 1, rows[size]);
    }
    for (const size of sizes) {
      await freshenTransient(pools[size]);
      await vacuumAnalyze(pools[size]);
      const shape = await tableShape(pools[size]);
      log(`${rowsLabel(rows[size])}: ${shape.rows.toLocaleString()} tasks, ${shape.inbox.toLocaleString()} in the inbox, ${shape.sizeMb} MB`);
    }

    log("steady-state sweep, both sizes interleaved");
    const [steadySmall, steadyLarge] = await measureSteadySweep([pools.small, pools.large].map((pool, i) => ({ pool, db: i === 0 ? dbs.small : dbs.large })), rules, probes, options.reps, options.batchSize);

    log(`peak RSS at rest and while recovering ${options.stuck.toLocaleString()} stuck tasks: the sweep alone and the whole worker, both sizes interleaved`);
    const rssRuns = await measureRss({
      childFiles,
      targets: sizes.map((size) => ({ databaseUrl: urls[size], stage: () => stage(pools[size], "processingInProgress", rows[size] - options.stuck + 1, rows[size]) })),
      redis,
      redisUrl: options.redisUrl,
      batchSize: options.batchSize,
      stuck: options.stuck,
      reps: Math.min(options.reps, 3),
    });
    const rssBySize = { small: { sweep: rssRuns.sweep[0]!, worker: rssRuns.worker[0]! }, large: { sweep: rssRuns.sweep[1]!, worker: rssRuns.worker[1]! } };

    const incident = { from: rows.large - options.stuck + 1, to: rows.large };
    log(`recovery of ${options.stuck.toLocaleString()} stuck tasks (row by row: ${options.rowByRow.toLocaleString()})`);
    const recovery = await measureRecovery(dbs.large, pools.large, backlogRules(), incident, options);
    log(`recovery of ${options.stuck.toLocaleString()} stuck tasks with the outbox relay and 50 organizations' webhooks on vs off`);
    const webhooks = await measureWebhookRecovery(dbs.large, pools.large, urls.large, redis, backlogRules(), incident, options);
    log(`move to history of ${options.stuck.toLocaleString()} finished tasks`);
    const history = await measureHistoryMove(dbs.large, pools.large, backlogRules(), incident, options);
    log(`neighbour cost: the platform's single-row update while ${options.stuck.toLocaleString()} stuck tasks are recovered vs idle`);
    const neighbour = await measureNeighbour(dbs.large, pools.large, urls.large, backlogRules(), incident, { reps: Math.min(options.reps, 3), batchSize: options.batchSize });
    log(`quiet sweep with ${IGNORED_ROWS.toLocaleString()} ignored rows in a switched-off workspace vs without`);
    const ignored = await measureIgnoredRows(dbs.large, pools.large, options.reps, options.batchSize);
    log(`quiet sweep with ${OVERRIDES.toLocaleString()} workspace overrides on three rules vs none`);
    const overridden = await measureOverrides(dbs.large, pools.large, options.reps, options.batchSize);

    const reprocessFigures = await reprocessThroughput(options, dbs.large, pools.large, incident.from);

    const S = rowsLabel(rows.small);
    const L = rowsLabel(rows.large);
    const k = rowsLabel(options.stuck);
    for (const [t, label] of [[steadySmall!, S], [steadyLarge!, L]] as const) {
      figures.push(ratioFigure(`steady sweep, nothing stuck, ${label} rows: runSweep vs 10 raw index probes`, "ms/sweep", t.project, t.probes, "atMost", 2));
      figures.push(ratioFigure(`steady sweep, nothing stuck, ${label} rows: runSweep vs one raw query`, "ms/sweep", t.project, t.single, "atMost", 2));
    }
    figures.push(ratioFigure(`steady sweep flat: runSweep at ${L} rows vs at ${S} rows`, "ms/sweep", steadyLarge!.project, steadySmall!.project, "atMost", STEADY_FLAT_LIMIT));
    figures.push(ratioFigure(`recovery of ${k} stuck, batch ${options.batchSize}: runSweep vs set-based SQL per batch`, "tasks/s", recovery.project, recovery.setBased, "atLeast", 0.9));
    figures.push(ratioFigure(`recovery of ${k} stuck: webhooks and events queue on vs off`, "tasks/s", webhooks.on, webhooks.off, "atLeast", 0.9));
    figures.push(ratioFigure(`webhook deliveries per second to a local receiver (50 organizations, 16 at a time, 4 requests each), webhooks alone, vs the recovery's events written per second`, "events/s", webhooks.deliveredPerSecond, webhooks.writtenPerSecond, "atLeast", 0.5));
    figures.push(infoFigure(`webhook deliveries per second vs the raw lower bound: plain undici POSTs of a webhook-sized body to the same receiver, 64 in flight`, "events/s", webhooks.deliveredPerSecond, webhooks.rawPerSecond));
    figures.push(infoFigure(`webhook deliveries, CPU per event, webhooks alone: the relay process vs the database's backends`, "µs CPU/event", webhooks.cpuPerEvent.relay, webhooks.cpuPerEvent.database));
    figures.push(infoFigure(`webhook deliveries, CPU per event, webhooks alone: the receiver process vs the database's backends`, "µs CPU/event", webhooks.cpuPerEvent.receiver, webhooks.cpuPerEvent.database));
    figures.push(infoFigure(`webhook deliveries per second with the events queue relayed by the same process at the same time vs the recovery's events written per second`, "events/s", webhooks.deliveredWithQueuePerSecond, webhooks.on));
    figures.push(infoFigure(`webhook deliveries with the events queue, CPU per event: the relay process (events queue and webhooks) vs the database's backends`, "µs CPU/event", webhooks.cpuPerEventWithQueue.relay, webhooks.cpuPerEventWithQueue.database));
    figures.push(infoFigure(`webhook deliveries with the events queue, CPU per event: the receiver process vs the database's backends`, "µs CPU/event", webhooks.cpuPerEventWithQueue.receiver, webhooks.cpuPerEventWithQueue.database));
    if (webhooks.cpuPerEventWithQueue.redis) figures.push(infoFigure(`webhook deliveries with the events queue, CPU per event: the Redis server (the events queue's jobs) vs the database's backends`, "µs CPU/event", webhooks.cpuPerEventWithQueue.redis, webhooks.cpuPerEventWithQueue.database));
    figures.push(ratioFigure(`recovery of ${k} stuck: runSweep vs row by row (${rowsLabel(options.rowByRow)} sample)`, "tasks/s", recovery.project, recovery.rowByRow, "atLeast", 20));
    figures.push(ratioFigure(`move to history of ${k} finished: runSweep vs set-based SQL per batch`, "tasks/s", history.project, history.setBased, "atLeast", 0.9));
    figures.push(ratioFigure(`steady sweep, ${L} rows + ${rowsLabel(IGNORED_ROWS)} ignored rows in a switched-off workspace: vs without them`, "ms/sweep", ignored.with, ignored.without, "atMost", 1.2));
    figures.push(infoFigure(`steady sweep, ${L} rows + ${rowsLabel(IGNORED_ROWS)} ignored rows: runSweep vs one raw query (no overrides)`, "ms/sweep", ignored.with, ignored.bound));
    figures.push(ratioFigure(`steady sweep, ${L} rows, ${rowsLabel(OVERRIDES)} workspace overrides on 3 rules: vs no overrides`, "ms/sweep", overridden.with, overridden.without, "atMost", 2));
    figures.push(infoFigure(`steady sweep, ${L} rows, ${rowsLabel(OVERRIDES)} workspace overrides: runSweep vs one raw query (no overrides)`, "ms/sweep", overridden.with, overridden.bound));
    figures.push(ratioFigure(`neighbour: platform single-row status update p99 while recovering ${k} vs idle`, "ms", neighbour.recovery.p99, neighbour.idle.p99, "atMost", 2));
    figures.push(infoFigure(`neighbour: platform single-row status update p50 while recovering ${k} vs idle`, "ms", neighbour.recovery.p50, neighbour.idle.p50));
    figures.push({ ...infoFigure(`neighbour: longest batch statement (row locks held), batches ≤ ${options.batchSize} sized by a 100 ms budget: vs the 100 ms target`, "ms", neighbour.longestBatchMs, 100), target: "project ≤ 100 ms", met: neighbour.longestBatchMs <= 100 });
    figures.push(infoFigure(`neighbour: batches cancelled at their time cap (${neighbour.capMs} ms) and retried smaller vs batches committed, all recoveries`, "batches", neighbour.batches.cancelled, neighbour.batches.committed));
    // CPU per task: what the wall-clock rates above cost, independent of the neighbours' load.
    const cpuVisible = await serverCpuVisible(pools.large);
    if (cpuVisible) {
      figures.push(infoFigure(`recovery, CPU (client + database) per task: runSweep vs set-based SQL`, "µs CPU/task", recovery.cpuPerTask.project, recovery.cpuPerTask.setBased));
      figures.push(infoFigure(`move to history, CPU (client + database) per task: runSweep vs set-based SQL`, "µs CPU/task", history.cpuPerTask.project, history.cpuPerTask.setBased));
    }
    figures.push(...reprocessFigures.filter((f) => cpuVisible || f.unit !== "µs CPU/job"));
    const peak = (runs: ChildRss[]) => median(runs.map((c) => c.peakMb));
    for (const kind of ["sweep", "worker"] as const) {
      const who = kind === "sweep" ? "sweep process (runSweep)" : "whole worker (startWatchdog)";
      for (const size of sizes) {
        const m = rssBySize[size][kind];
        figures.push({
          ...infoFigure(`${who} peak RSS recovering ${k} stuck, ${rowsLabel(rows[size])} rows: vs the same at rest`, "MB", peak(m.recovery), peak(m.idle)),
          target: `project < ${RSS_LIMIT_MB} MB`,
          met: peak(m.recovery) < RSS_LIMIT_MB,
        });
      }
      figures.push(ratioFigure(`${who} peak RSS flat: recovery at ${L} rows vs at ${S} rows`, "MB", peak(rssBySize.large[kind].recovery), peak(rssBySize.small[kind].recovery), "atMost", RSS_FLAT_LIMIT));
    }
    const workerAtRest = rssBySize.large.worker.idle;
    const rssBreakdown = {
      note: "whole worker at rest, large table: resident memory that is the process's own (anonymous) vs mapped files (mostly the node binary, shared by every node process)",
      anonymousMb: Math.round(median(workerAtRest.map((c) => c.anonMb))),
      fileBackedMb: Math.round(median(workerAtRest.map((c) => c.fileMb))),
    };

    const table = printTable(figures);
    process.stdout.write(`\n${table}\n\n`);
    process.stdout.write(`whole worker at rest: ${rssBreakdown.anonymousMb} MB of its own (anonymous) + ${rssBreakdown.fileBackedMb} MB mapped files (node binary, shared)\n`);
    const missed = figures.filter((f) => !f.met);
    if (missed.length > 0) process.stdout.write(`missed: ${missed.map((f) => f.name).join("; ")}\n`);
    if (options.out) {
      writeResults(options.out, {
        date: started.toISOString(),
        durationSeconds: Math.round((Date.now() - started.getTime()) / 1000),
        loaded: options.loaded,
        options: { rows: options.rows, smallRows: rows.small, stuck: options.stuck, rowByRow: options.rowByRow, jobs: options.jobs, reps: options.reps, batchSize: options.batchSize },
        ...environment,
        figures,
        rssBreakdown,
      });
      log(`wrote ${options.out}`);
    }
  } finally {
    for (const size of sizes) {
      await dbs[size].$disconnect();
      await pools[size].end();
    }
    await redis.quit();
  }
}

async function reprocessThroughput(options: BenchOptions, db: Db, pool: pg.Pool, belowId: number): Promise<Figure[]> {
  // Tasks under review with their assignments, outside the incident's id range.
  const { rows } = await pool.query<{ id: number }>(`SELECT id FROM tasks WHERE location = 'INBOX' AND status = 50 AND id < $1 ORDER BY id LIMIT $2`, [belowId, options.jobs]);
  const concurrency = 5; // REPROCESS_CONCURRENCY's default
  log(`reprocess throughput: ${rows.length.toLocaleString()} jobs, concurrency ${concurrency}`);
  const rates = await measureReprocess(db, pool, rows.map((r) => r.id), { reps: options.reps, redisUrl: options.redisUrl, concurrency });
  return [
    ratioFigure(`reprocess through the queue, concurrency ${concurrency}: worker vs plain BullMQ + one statement`, "jobs/s", rates.project, rates.bound, "atLeast", 0.85),
    infoFigure(`reprocess, attribution: worker vs plain BullMQ + plain pg following the worker's protocol`, "jobs/s", rates.project, rates.sameSteps),
    infoFigure(`reprocess, attribution: plain BullMQ + the one statement via Prisma vs via plain pg`, "jobs/s", rates.oneStatementPrisma, rates.bound),
    infoFigure(`reprocess, CPU (client + database, not Redis) per job: worker vs plain BullMQ + one statement`, "µs CPU/job", rates.cpuPerJob.project, rates.cpuPerJob.bound),
  ];
}

main().catch((error: unknown) => {
  if (error instanceof UsageError) {
    (error.help ? process.stdout : process.stderr).write(`${error.message}\n`);
    process.exitCode = error.help ? 0 : 2;
    return;
  }
  process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});

