// `npm run bench`: the project's own code paths next to lower bounds written in plain SQL / plain
// BullMQ, in one run, on one machine; every comparison is a ratio within the run. See README,
// "Performance", and `npm run bench -- --help`.
import { existsSync } from "node:fs";
import { loadavg } from "node:os";
import pg from "pg";
import { MIGRATIONS_DIR } from "../src/cli/paths.js";
import { createDb } from "../src/db/client.js";
import { migrate } from "../src/db/migrate.js";
import { buildRules, probesFor } from "../src/domain/rules.js";
import { createRedis } from "../src/queues/redis.js";
import { measureHistoryMove } from "./figures/history.js";
import { measureRecovery } from "./figures/recovery.js";
import { bundleChild, childSweepRss } from "./figures/rss.js";
import { measureSteadySweep, type SteadyTimes } from "./figures/steady-sweep.js";
import { stage } from "./incident.js";
import { infoFigure, log, ratioFigure, type Figure } from "./measure.js";
import { parseOptions, UsageError } from "./options.js";
import { describeEnvironment, printTable, writeResults } from "./report.js";
import { freshenTransient, seedRange, tableShape, truncate, vacuumAnalyze } from "./seed.js";

const RSS_LIMIT_MB = 150;
const STEADY_FLAT_LIMIT = 1.5;
const RSS_FLAT_LIMIT = 1.25;

const rowsLabel = (n: number) => (n >= 1_000_000 && n % 1_000_000 === 0 ? `${n / 1_000_000}M` : n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n));

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const loadAtStart = loadavg();
  const started = new Date();
  const small = Math.floor(options.rows / 10);
  const large = options.rows;
  log(`rows ${small.toLocaleString()} then ${large.toLocaleString()}, ${options.stuck.toLocaleString()} stuck, ${options.reps} repetitions, batch ${options.batchSize}`);

  await migrate(options.databaseUrl, MIGRATIONS_DIR);
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 5 });
  const db = createDb(options.databaseUrl, { max: 5 });
  const redis = createRedis(options.redisUrl);
  const rules = buildRules();
  const probes = probesFor(rules);
  const figures: Figure[] = [];
  try {
    const environment = await describeEnvironment(pool, redis, loadAtStart);
    const childFile = await bundleChild();
    const steady: Record<"small" | "large", SteadyTimes | undefined> = { small: undefined, large: undefined };
    const rss: Record<"small" | "large", { idle: number; recovery: number } | undefined> = { small: undefined, large: undefined };

    const atSize = async (size: "small" | "large", rows: number) => {
      await freshenTransient(pool);
      await vacuumAnalyze(pool);
      const shape = await tableShape(pool);
      log(`${rowsLabel(rows)} rows: ${shape.rows.toLocaleString()} tasks, ${shape.inbox.toLocaleString()} in the inbox, ${shape.sizeMb} MB; steady-state sweep`);
      steady[size] = await measureSteadySweep(db, pool, rules, probes, options.reps, options.batchSize);
      log(`${rowsLabel(rows)} rows: worker RSS, at rest and during recovery of ${options.stuck.toLocaleString()} tasks`);
      const rssReps = Math.min(options.reps, 3);
      const idle = await childSweepRss(childFile, options.databaseUrl, options.batchSize, rssReps);
      if (idle.acted !== 0) throw new Error(`the at-rest child acted on ${idle.acted} tasks; nothing should be stuck`);
      const recovery = await childSweepRss(childFile, options.databaseUrl, options.batchSize, rssReps, () => stage(pool, "processingInProgress", rows - options.stuck + 1, rows));
      if (recovery.acted !== options.stuck) throw new Error(`the recovery child reverted ${recovery.acted} of ${options.stuck} stuck tasks`);
      rss[size] = { idle: idle.peakMb, recovery: recovery.peakMb };
    };

    log(`seeding ${small.toLocaleString()} rows`);
    await truncate(pool);
    await seedRange(pool, 1, small);
    await atSize("small", small);
    log(`growing to ${large.toLocaleString()} rows`);
    await seedRange(pool, small + 1, large);
    await atSize("large", large);

    const incident = { from: large - options.stuck + 1, to: large };
    log(`recovery of ${options.stuck.toLocaleString()} stuck tasks (row by row: ${options.rowByRow.toLocaleString()})`);
    const recovery = await measureRecovery(db, pool, rules, incident, options);
    log(`move to history of ${options.stuck.toLocaleString()} finished tasks`);
    const history = await measureHistoryMove(db, pool, rules, incident, options);

    const reprocessFigure = await reprocessThroughput(options, db, pool, incident.from);

    const S = rowsLabel(small);
    const L = rowsLabel(large);
    const k = rowsLabel(options.stuck);
    for (const [size, label] of [["small", S], ["large", L]] as const) {
      const t = steady[size]!;
      figures.push(ratioFigure(`steady sweep, nothing stuck, ${label} rows: runSweep vs 10 raw index probes`, "ms/sweep", t.project, t.probes, "atMost", 2));
      figures.push(infoFigure(`steady sweep, nothing stuck, ${label} rows: runSweep vs one raw query`, "ms/sweep", t.project, t.single));
    }
    figures.push(ratioFigure(`steady sweep flat: runSweep at ${L} rows vs at ${S} rows`, "ms/sweep", steady.large!.project, steady.small!.project, "atMost", STEADY_FLAT_LIMIT));
    figures.push(ratioFigure(`recovery of ${k} stuck, batch ${options.batchSize}: runSweep vs set-based SQL per batch`, "tasks/s", recovery.project, recovery.setBased, "atLeast", 0.8));
    figures.push(ratioFigure(`recovery of ${k} stuck: runSweep vs row by row (${rowsLabel(options.rowByRow)} sample)`, "tasks/s", recovery.project, recovery.rowByRow, "atLeast", 20));
    figures.push(ratioFigure(`move to history of ${k} finished: runSweep vs set-based SQL per batch`, "tasks/s", history.project, history.setBased, "atLeast", 0.8));
    if (reprocessFigure) figures.push(reprocessFigure);
    for (const [size, label] of [["small", S], ["large", L]] as const) {
      const m = rss[size]!;
      figures.push({ ...infoFigure(`worker peak RSS recovering ${k} stuck, ${label} rows: vs the same worker at rest`, "MB", m.recovery, m.idle), target: `project < ${RSS_LIMIT_MB} MB`, met: m.recovery < RSS_LIMIT_MB });
    }
    figures.push(ratioFigure(`worker peak RSS flat: recovery at ${L} rows vs at ${S} rows`, "MB", rss.large!.recovery, rss.small!.recovery, "atMost", RSS_FLAT_LIMIT));

    const table = printTable(figures);
    process.stdout.write(`\n${table}\n\n`);
    const missed = figures.filter((f) => !f.met);
    if (missed.length > 0) process.stdout.write(`missed: ${missed.map((f) => f.name).join("; ")}\n`);
    if (options.out) {
      writeResults(options.out, {
        date: started.toISOString(),
        durationSeconds: Math.round((Date.now() - started.getTime()) / 1000),
        options: { rows: options.rows, smallRows: small, stuck: options.stuck, rowByRow: options.rowByRow, jobs: options.jobs, reps: options.reps, batchSize: options.batchSize },
        ...environment,
        figures,
        missing: reprocessFigure ? [] : ["reprocess throughput: src/queues/reprocess-worker.ts not present"],
      });
      log(`wrote ${options.out}`);
    }
  } finally {
    await db.$disconnect();
    await pool.end();
    await redis.quit();
  }
}

async function reprocessThroughput(options: ReturnType<typeof parseOptions>, db: ReturnType<typeof createDb>, pool: pg.Pool, belowId: number): Promise<Figure | undefined> {
  if (!existsSync(new URL("../src/queues/reprocess-worker.ts", import.meta.url))) {
    log("reprocess throughput: src/queues/reprocess-worker.ts is not there yet; figure missing");
    return undefined;
  }
  const { measureReprocess } = await import("./figures/reprocess.js");
  const { rows } = await pool.query<{ id: number }>(
    `SELECT id FROM tasks WHERE location = 'INBOX' AND status = 50 AND id < $1 ORDER BY id LIMIT $2`,
    [belowId, options.jobs],
  );
  const concurrency = 5; // REPROCESS_CONCURRENCY's default
  log(`reprocess throughput: ${rows.length.toLocaleString()} jobs, concurrency ${concurrency}`);
  const rates = await measureReprocess(db, pool, rows.map((r) => r.id), { reps: options.reps, redisUrl: options.redisUrl, concurrency });
  return ratioFigure(`reprocess through the queue, concurrency ${concurrency}: worker vs plain BullMQ + one statement`, "jobs/s", rates.project, rates.bound, "atLeast", 0.7);
}

main().catch((error: unknown) => {
  if (error instanceof UsageError) {
    process.stderr.write(`${error.message}\n`);
    process.exitCode = 2;
    return;
  }
  process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});

