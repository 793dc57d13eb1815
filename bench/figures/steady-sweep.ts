// Steady state: nothing is stuck, and a sweep should cost a handful of index probes whatever the
// table size. Project: runSweep with the default rules (10 probes, one statement each, through
// Prisma). Bounds, in plain `pg`: the same 10 index probes as 10 queries, and all 10 in one query.
import type pg from "pg";
import type { Db } from "../../src/platform/db/client.js";
import type { Probe, Rule } from "../../src/rules/rules.js";
import { runSweep } from "../../src/sweep/run-sweep.js";
import { sample, timeMs, type Sample } from "../measure.js";

// One probe: the candidate search of a sweep batch, index range scan on
// tasks_inbox_status_changed_at_idx (status, status_changed_at) WHERE location = 'INBOX'.
const PROBE_SQL = `
  SELECT t.id FROM tasks t
  WHERE t.location = 'INBOX' AND t.status = $1::smallint AND t.status_changed_at < now() - $2::int * interval '1 second'
  ORDER BY t.status_changed_at
  LIMIT $3::int
  FOR UPDATE OF t SKIP LOCKED`;

// All probes at once: does anything need doing at all? One round trip, one index probe per status.
export const SINGLE_SQL = `
  SELECT p.status, x.id
  FROM unnest($1::smallint[], $2::int[]) AS p(status, stuck_after_seconds)
  CROSS JOIN LATERAL (
    SELECT t.id FROM tasks t
    WHERE t.location = 'INBOX' AND t.status = p.status AND t.status_changed_at < now() - p.stuck_after_seconds * interval '1 second'
    LIMIT 1
  ) x`;

export interface SteadyTimes {
  /** Milliseconds per sweep, median over repetitions. */
  project: Sample;
  probes: Sample;
  single: Sample;
}

export interface SteadyTarget {
  db: Db;
  pool: pg.Pool;
}

/**
 * Measures every target (one per table size) in the same repetitions, interleaved, so a change in
 * the machine's load during the run hits the sizes alike and "flat" compares like with like.
 */
export async function measureSteadySweep(targets: readonly SteadyTarget[], rules: readonly Rule[], probes: readonly Probe[], reps: number, batchSize: number): Promise<SteadyTimes[]> {
  const iterations = 100;
  const statuses = probes.map((p) => p.status);
  const seconds = probes.map((p) => p.stuckAfterSeconds);
  const runners = targets.map(({ db, pool }) => ({
    project: async () => {
      const result = await runSweep(db, rules, { sweepId: "bench-steady", dryRun: false, batchSize });
      if (result.reverted + result.movedToHistory !== 0) throw new Error(`steady state is not steady: the sweep acted on ${result.reverted + result.movedToHistory} tasks`);
    },
    probes: async () => {
      for (const p of probes) {
        const { rowCount } = await pool.query(PROBE_SQL, [p.status, p.stuckAfterSeconds, batchSize]);
        if (rowCount) throw new Error(`steady state is not steady: status ${p.status} has stuck tasks`);
      }
    },
    single: async () => {
      const { rowCount } = await pool.query(SINGLE_SQL, [statuses, seconds]);
      if (rowCount) throw new Error("steady state is not steady: the single query found stuck tasks");
    },
  }));
  const perCall = async (fn: () => Promise<void>) =>
    (await timeMs(async () => {
      for (let i = 0; i < iterations; i++) await fn();
    })) / iterations;

  for (const run of runners) for (let i = 0; i < 20; i++) { await run.project(); await run.probes(); await run.single(); } // warm caches, plans, pools
  const times = runners.map(() => ({ project: [] as number[], probes: [] as number[], single: [] as number[] }));
  const kinds = ["project", "probes", "single"] as const;
  for (let r = 0; r < reps; r++) {
    // Alternate the order between repetitions so drift does not favour one side.
    const order = r % 2 === 0 ? kinds : [...kinds].reverse();
    for (const kind of order) for (const [i, run] of runners.entries()) times[i]![kind].push(await perCall(run[kind]));
  }
  return times.map((t) => ({ project: sample(t.project), probes: sample(t.probes), single: sample(t.single) }));
}
