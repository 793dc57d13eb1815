// Scale figure "metrics": /metrics of 5 replicas, each scraped every 2 s, with 50,000 workspaces
// holding inbox tasks in every watched transient status (and one stuck task per status, so each
// count must judge every workspace: one index descent per workspace per status). Per replica a
// metrics registry as the worker builds it (createMetrics), sharing one Redis prefix and the
// database, scraped in-process (registry.metrics(), what the HTTP handler serves). Measured: the
// scrape p95, and the stuck gauges' database time per minute for the whole deployment (the
// watchdog_stuck_count_seconds histogram, summed over the replicas) — beside the same run with
// 50 workspaces.
import pg from "pg";
import pino from "pino";
import { createRedis } from "../../src/platform/redis.js";
import { createDb } from "../../src/platform/db/client.js";
import { buildRules } from "../../src/rules/rules.js";
import { createMetrics } from "../../src/ops/metrics.js";
import { countStuckByProbe } from "../../src/sweep/sql/count-stuck-by-probe.js";
import { statusPlansFor } from "../../src/sweep/sweep-plan.js";
import { infoFigure, limitFigure, median, quantile, timeMs, type Figure } from "../measure.js";
import { defineScaleFigure, type ScaleContext } from "../scale-figure.js";

const REPLICAS = 5;
const SCRAPE_EVERY_MS = 2000;
const P95_LIMIT_MS = 200;
const DB_SECONDS_PER_MINUTE_LIMIT = 1;
/** The watched transient statuses the fixture fills (default rules watch them). */
const STATUSES = [30, 31, 40, 41, 60, 61];

async function seed(pool: pg.Pool, workspaces: number): Promise<void> {
  await pool.query("TRUNCATE task_events, task_assignments, tasks RESTART IDENTITY CASCADE");
  // Per workspace and status: two young inbox tasks. Per status: one task stuck for days in workspace 1.
  await pool.query(
    `INSERT INTO tasks (organization_id, workspace_id, display_name, status, location, status_changed_at, original_payload)
     SELECT 1 + w % 1000, w, 'doc.pdf', s, 'INBOX', now() - (n * 60) * interval '1 second', '{}'::jsonb
     FROM generate_series(1, $1::int) w CROSS JOIN unnest($2::smallint[]) s CROSS JOIN generate_series(1, 2) n`,
    [workspaces, STATUSES],
  );
  await pool.query(
    `INSERT INTO tasks (organization_id, workspace_id, display_name, status, location, status_changed_at, original_payload)
     SELECT 1, 1, 'stuck.pdf', s, 'INBOX', now() - interval '3 days', '{}'::jsonb FROM unnest($1::smallint[]) s`,
    [STATUSES],
  );
  await pool.query("VACUUM (ANALYZE) tasks");
}

/** The count as every scrape used to take it: each status judged workspace by workspace (ms, median of 3). */
async function perWorkspaceCountMs(databaseUrl: string): Promise<number> {
  const db = createDb(databaseUrl, { max: 1 });
  try {
    const plans = statusPlansFor(buildRules());
    await db.$queryRaw`SELECT 1`;
    const times: number[] = [];
    for (let i = 0; i < 3; i++) times.push(await timeMs(async () => { for (const plan of plans) await countStuckByProbe(db, plan, { sampleSize: 0 }); }));
    return median(times);
  } finally {
    await db.$disconnect();
  }
}

interface Run {
  /** The per-workspace count every scrape used to run (ms). */
  perWorkspaceCountMs: number;
  /** Database time of one count of the stuck gauges. */
  secondsPerCount: number;
  p95Ms: number;
  dbSecondsPerMinute: number;
  scrapes: number;
}

async function scrapeFor(ctx: ScaleContext, seconds: number, prefix: string): Promise<Run> {
  const logger = pino({ level: "silent" });
  const rules = buildRules();
  const replicas = Array.from({ length: REPLICAS }, () => {
    const db = createDb(ctx.databaseUrl, { max: 2 });
    const redis = createRedis(ctx.redisUrl);
    const metrics = createMetrics({
      db,
      rules,
      queues: [],
      redis,
      prefix,
      stuckCountIntervalMs: 60_000,
      sweepHealth: async () => ({ overdue: false, lastCompletedAtMs: Date.now(), secondsSinceLastCompleted: 0, overdueAfterSeconds: 180 }),
      lastSweepHeld: async () => ({}),
      pauses: async () => [],
      logger,
      build: { version: "bench", commit: "bench" },
    });
    return { db, redis, metrics };
  });
  const times: number[] = [];
  try {
    // Connections open before the clock starts: a count's time is the database's, not a connect's.
    await Promise.all(replicas.map((r) => r.db.$queryRaw`SELECT 1`));
    const until = Date.now() + seconds * 1000;
    // Each replica scrapes on its own 2 s clock, staggered over the interval as Prometheus would.
    await Promise.all(
      replicas.map(async (r, i) => {
        await new Promise((resolve) => setTimeout(resolve, (i * SCRAPE_EVERY_MS) / REPLICAS));
        while (Date.now() < until) {
          const started = Date.now();
          times.push(await timeMs(() => r.metrics.registry.metrics()));
          await new Promise((resolve) => setTimeout(resolve, Math.max(0, SCRAPE_EVERY_MS - (Date.now() - started))));
        }
      }),
    );
    let dbSeconds = 0;
    let counts = 0;
    for (const r of replicas) {
      const histogram = await r.metrics.registry.getSingleMetric("watchdog_stuck_count_seconds")!.get();
      const values = histogram.values as { value: number; metricName?: string }[];
      dbSeconds += values.filter((v) => v.metricName === "watchdog_stuck_count_seconds_sum").reduce((sum, v) => sum + v.value, 0);
      counts += values.filter((v) => v.metricName === "watchdog_stuck_count_seconds_count").reduce((sum, v) => sum + v.value, 0);
    }
    return { p95Ms: quantile(times, 0.95), dbSecondsPerMinute: (dbSeconds * 60) / seconds, scrapes: times.length, secondsPerCount: counts > 0 ? dbSeconds / counts : 0, perWorkspaceCountMs: 0 };
  } finally {
    for (const r of replicas) {
      await r.db.$disconnect();
      r.redis.disconnect();
    }
  }
}

export default defineScaleFigure({
  covers: ["metrics-scrape"],
  title: "/metrics with 50,000 workspaces, 5 replicas scraped every 2 s, vs 50 workspaces",
  async run(ctx) {
    const workspaces = ctx.quick ? 5_000 : 50_000;
    const seconds = ctx.quick ? 20 : 60;
    const pool = new pg.Pool({ connectionString: ctx.databaseUrl, max: 2 });
    try {
      const runs: Record<string, Run> = {};
      for (const [name, size] of [["baseline", 50], ["large", workspaces]] as const) {
        ctx.log(`seeding ${size.toLocaleString()} workspaces × ${STATUSES.length} statuses`);
        await seed(pool, size);
        ctx.log(`${REPLICAS} replicas scraped every ${SCRAPE_EVERY_MS / 1000} s for ${seconds} s`);
        runs[name] = { ...(await scrapeFor(ctx, seconds, `${ctx.redisPrefix}-${name}`)), perWorkspaceCountMs: await perWorkspaceCountMs(ctx.databaseUrl) };
        ctx.log(`${size.toLocaleString()} workspaces: ${runs[name]!.scrapes} scrapes, p95 ${runs[name]!.p95Ms.toFixed(1)} ms, stuck gauges ${runs[name]!.dbSecondsPerMinute.toFixed(2)} s of database time per minute`);
      }
      const label = `${workspaces.toLocaleString()} workspaces`;
      const figures: Figure[] = [
        limitFigure(`/metrics scrape p95, ${label}, ${REPLICAS} replicas every 2 s: vs 50 workspaces`, "ms", runs.large!.p95Ms, runs.baseline!.p95Ms, P95_LIMIT_MS),
        limitFigure(`stuck gauges' database time per minute, whole deployment, ${label}: vs 50 workspaces`, "s/min", runs.large!.dbSecondsPerMinute, runs.baseline!.dbSecondsPerMinute, DB_SECONDS_PER_MINUTE_LIMIT),
        // What the gauges cost before: the per-workspace count, on every scrape of every replica.
        infoFigure(
          `before: per-workspace stuck count on every scrape (${REPLICAS} replicas × 30 scrapes/min), ${label}: vs 50 workspaces`,
          "s/min",
          (runs.large!.perWorkspaceCountMs / 1000) * REPLICAS * 30,
          (runs.baseline!.perWorkspaceCountMs / 1000) * REPLICAS * 30,
        ),
      ];
      return figures;
    } finally {
      await pool.end();
    }
  },
});
