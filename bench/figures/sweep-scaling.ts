// What a quiet sweep pays for rows it ignores and for the number of workspace overrides: neither
// may multiply its cost. Project: runSweep (steady state, nothing stuck). Reference: the same
// sweep without the ignored rows / without the overrides, in the same run; and the raw lower
// bound (one plain query, one index descent per status) for scale.
//   (a) 200,000 inbox rows, days old, in a workspace whose override switches the rule off;
//   (b) overrides for 5,000 workspaces on three rules (a threshold, a longer one, or off).
import type pg from "pg";
import type { Db } from "../../src/platform/db/client.js";
import { buildRules, type Rule } from "../../src/rules/rules.js";
import { runSweep } from "../../src/sweep/run-sweep.js";
import { sample, type Sample, timeMs } from "../measure.js";
import { vacuumAnalyze } from "../seed.js";
import { SINGLE_SQL } from "./steady-sweep.js";

export const IGNORED_ROWS = 200_000;
export const OVERRIDES = 5_000;
const IGNORED_WORKSPACE = 999_999;
const ITERATIONS = 100;

/** Milliseconds per call of `fn`, over ITERATIONS calls. */
const perCall = async (fn: () => Promise<void>) =>
  (await timeMs(async () => {
    for (let i = 0; i < ITERATIONS; i++) await fn();
  })) / ITERATIONS;

function quietSweep(db: Db, rules: readonly Rule[], batchSize: number) {
  return async () => {
    const result = await runSweep(db, rules, { sweepId: "bench-scaling", dryRun: false, batchSize });
    if (result.reverted + result.movedToHistory + Object.keys(result.held).length !== 0) throw new Error("steady state is not steady: the sweep found stuck tasks");
  };
}

function rawBound(pool: pg.Pool, rules: readonly Rule[]) {
  const enabled = rules.filter((r) => r.enabled);
  const statuses = enabled.map((r) => r.status);
  const seconds = enabled.map((r) => r.stuckAfterSeconds);
  return async () => {
    await pool.query(SINGLE_SQL, [statuses, seconds]);
  };
}

export interface ScalingTimes {
  without: Sample;
  with: Sample;
  /** The raw single query, for scale. */
  bound: Sample;
}

/** (a): the same rules (a switched-off workspace), first without its rows, then with 200,000 of them. */
export async function measureIgnoredRows(db: Db, pool: pg.Pool, reps: number, batchSize: number): Promise<ScalingTimes> {
  const rules = buildRules({ ProcessingInProgress: { workspaces: [{ workspaceIds: [IGNORED_WORKSPACE], enabled: false }] } });
  const sweep = quietSweep(db, rules, batchSize);
  const bound = rawBound(pool, rules);
  const measure = async () => {
    for (let i = 0; i < 20; i++) await sweep();
    const times = { sweep: [] as number[], bound: [] as number[] };
    for (let r = 0; r < reps; r++) {
      times.sweep.push(await perCall(sweep));
      times.bound.push(await perCall(bound));
    }
    return { sweep: sample(times.sweep), bound: sample(times.bound) };
  };
  const without = await measure();
  await pool.query(
    `INSERT INTO tasks (organization_id, workspace_id, external_id, display_name, status, location, status_changed_at, original_payload)
     SELECT 1, $1::int, 'ignored-' || g, 'ignored-' || g || '.pdf', 41, 'INBOX', now() - (1 + g % 30) * interval '1 day' - (g % 86400) * interval '1 second', '{}'::jsonb
     FROM generate_series(1, $2::int) g`,
    [IGNORED_WORKSPACE, IGNORED_ROWS],
  );
  await vacuumAnalyze(pool);
  try {
    const withRows = await measure();
    return { without: without.sweep, with: withRows.sweep, bound: withRows.bound };
  } finally {
    await pool.query("DELETE FROM tasks WHERE workspace_id = $1", [IGNORED_WORKSPACE]);
    await vacuumAnalyze(pool);
  }
}

/** (b): the default rules vs overrides for 5,000 workspaces on three rules, interleaved. */
export async function measureOverrides(db: Db, pool: pg.Pool, reps: number, batchSize: number): Promise<ScalingTimes> {
  // The seeded workspaces (10..504) and thousands more; a mix of shorter, longer and switched-off.
  const overrides = Array.from({ length: OVERRIDES }, (_, i) => ({
    workspaceIds: [10 + i],
    ...(i % 3 === 0 ? { stuckAfter: "PT1H" } : i % 3 === 1 ? { stuckAfter: "PT6H" } : { enabled: false }),
  }));
  const many = buildRules({
    PreProcessingInProgress: { workspaces: overrides },
    QueuedForProcessing: { workspaces: overrides },
    ProcessingInProgress: { workspaces: overrides },
  });
  const none = buildRules();
  const sides = { without: quietSweep(db, none, batchSize), with: quietSweep(db, many, batchSize), bound: rawBound(pool, none) };
  for (let i = 0; i < 20; i++) for (const fn of Object.values(sides)) await fn();
  const times = { without: [] as number[], with: [] as number[], bound: [] as number[] };
  const kinds = ["without", "with", "bound"] as const;
  for (let r = 0; r < reps; r++) for (const kind of r % 2 === 0 ? kinds : [...kinds].reverse()) times[kind].push(await perCall(sides[kind]));
  return { without: sample(times.without), with: sample(times.with), bound: sample(times.bound) };
}
