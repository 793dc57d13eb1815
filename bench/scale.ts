// `npm run bench -- --scale`: the tenant-scale targets (bench/scale-targets.ts), each measured by
// the scale figures that cover it (bench/figures/scale-*.ts, found by name) beside a baseline of
// the same run, printed and written in the normal run's format (bench/report.ts). To add a figure,
// add a file; nothing here needs to change (bench/scale-figure.ts says what the file exports).
import { readdirSync } from "node:fs";
import { loadavg } from "node:os";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { Redis } from "ioredis";
import { MIGRATIONS_DIR } from "../src/cli/paths.js";
import { migrate } from "../src/platform/db/migrate.js";
import { log, type Figure } from "./measure.js";
import type { BenchOptions } from "./options.js";
import { UsageError } from "./options.js";
import { deletePrefix } from "./redis-keys.js";
import { describeEnvironment, printTable, writeResults } from "./report.js";
import { scaleFigureName, type ScaleFigure } from "./scale-figure.js";
import { SCALE_TARGETS } from "./scale-targets.js";

const FIGURES_DIR = new URL("./figures/", import.meta.url);

/** Every scale figure file, by name, in name order. */
export function scaleFigureFiles(): { name: string; file: string }[] {
  return readdirSync(FIGURES_DIR)
    .map((file) => ({ name: scaleFigureName(file), file }))
    .filter((f): f is { name: string; file: string } => f.name !== undefined)
    .sort((a, b) => a.name.localeCompare(b.name));
}

function figureDatabaseUrl(databaseUrl: string, name: string): string {
  const url = new URL(databaseUrl);
  url.pathname = `${url.pathname}_scale_${name.replaceAll("-", "_")}`;
  return url.toString();
}

/** Drops the figure's database (unless reusing it) and migrates it; true when an existing one was kept. */
async function prepareDatabase(databaseUrl: string, reuse: boolean): Promise<boolean> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  url.pathname = "/postgres";
  const admin = new pg.Client({ connectionString: url.toString() });
  await admin.connect();
  let existed: boolean;
  try {
    existed = (await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [name])).rowCount === 1;
    if (existed && !reuse) await admin.query(`DROP DATABASE ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
  await migrate(databaseUrl, MIGRATIONS_DIR);
  return existed && reuse;
}

interface ScaleRun {
  name: string;
  title: string;
  covers: readonly string[];
  seconds: number;
  figures: Figure[];
  error?: string;
}

export async function runScale(options: BenchOptions): Promise<void> {
  const loadAtStart = loadavg();
  const started = new Date();
  const files = scaleFigureFiles();
  const unknown = (options.only ?? []).filter((n) => !files.some((f) => f.name === n));
  if (unknown.length > 0) throw new UsageError(`--only: no scale figure named ${unknown.join(", ")}; there are: ${files.map((f) => f.name).join(", ")}`);
  const chosen = files.filter((f) => options.only === null || options.only.includes(f.name));
  log(`scale run${options.quick ? " (quick)" : ""}: ${chosen.map((f) => f.name).join(", ")}`);

  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 3 });
  const environmentPool = new pg.Pool({ connectionString: options.databaseUrl.replace(/\/[^/?]*(\?|$)/, "/postgres$1"), max: 1 });
  const runs: ScaleRun[] = [];
  try {
    const environment = await describeEnvironment(environmentPool, redis, loadAtStart);
    for (const { name, file } of chosen) {
      const figure = ((await import(new URL(file, FIGURES_DIR).href)) as { default: ScaleFigure }).default;
      const databaseUrl = figureDatabaseUrl(options.databaseUrl, name);
      const redisPrefix = `wdbench-scale-${name}-${randomBytes(4).toString("hex")}`;
      const t0 = Date.now();
      log(`${name}: ${figure.title}`);
      const run: ScaleRun = { name, title: figure.title, covers: figure.covers, seconds: 0, figures: [] };
      try {
        const reused = await prepareDatabase(databaseUrl, options.reuseDb);
        run.figures = await figure.run({
          quick: options.quick,
          reps: options.reps,
          databaseUrl,
          reused,
          redisUrl: options.redisUrl,
          redisPrefix,
          log: (message) => log(`${name}: ${message}`),
        });
      } catch (error) {
        // One broken figure must not hide the others' results: reported, and the run exits 1.
        run.error = (error as Error).stack ?? String(error);
        log(`${name} failed: ${run.error}`);
      } finally {
        await deletePrefix(redis, redisPrefix);
      }
      run.seconds = Math.round((Date.now() - t0) / 1000);
      runs.push(run);
    }

    const report = scaleReport(runs, options.only !== null);
    process.stdout.write(`\n${report}\n`);
    const figures = runs.flatMap((r) => r.figures);
    const missed = figures.filter((f) => !f.met);
    if (missed.length > 0) process.stdout.write(`missed: ${missed.map((f) => f.name).join("; ")}\n`);
    const failed = runs.filter((r) => r.error !== undefined);
    if (failed.length > 0) {
      process.stdout.write(`failed: ${failed.map((r) => r.name).join(", ")} (see the log above)\n`);
      process.exitCode = 1;
    }
    if (options.out) {
      writeResults(options.out, {
        date: started.toISOString(),
        durationSeconds: Math.round((Date.now() - started.getTime()) / 1000),
        loaded: options.loaded,
        options: { scale: true, quick: options.quick, reps: options.reps, only: options.only },
        ...environment,
        targets: SCALE_TARGETS.map((t) => ({ ...t, figures: runs.filter((r) => r.covers.includes(t.id)).map((r) => r.name) })),
        runs: runs.map(({ name, title, covers, seconds, error }) => ({ name, title, covers, seconds, ...(error ? { error } : {}) })),
        figures,
      });
      log(`wrote ${options.out}`);
    }
  } finally {
    await environmentPool.end();
    await redis.quit();
  }
}

/** Every target, then the figures that measured it in this run (or why there are none). */
export function scaleReport(runs: readonly ScaleRun[], partial: boolean): string {
  const sections: string[] = [];
  for (const target of SCALE_TARGETS) {
    const mine = runs.filter((r) => r.covers.includes(target.id));
    const head = `${target.text} — target: ${target.target}`;
    if (mine.length === 0) {
      sections.push(`${head}\n  not measured in this run${partial ? "" : " (no bench/figures/scale-*.ts covers it yet)"}`);
      continue;
    }
    const figures = mine.flatMap((r) => r.figures);
    const errors = mine.filter((r) => r.error !== undefined).map((r) => `  ${r.name}: FAILED (see the log)`);
    sections.push([head, ...(figures.length > 0 ? [printTable(figures)] : []), ...errors].join("\n"));
  }
  return sections.join("\n\n");
}
