// Timing, medians and the figure type every measurement returns.
import { performance } from "node:perf_hooks";

export interface Figure {
  name: string;
  unit: string;
  /** The project's own code path. */
  project: number;
  /** The lower bound written in the benchmark itself (plain SQL / plain BullMQ), or the reference named in `name`. */
  bound: number;
  /** project / bound, both measured in the same run. */
  ratio: number;
  /**
   * The spread over the repetitions behind a median: [lowest, highest] of each side. Absent for a
   * figure measured once (or not over repetitions, like a peak).
   */
  spread?: { project: [number, number]; bound: [number, number] };
  /** The target for the ratio (or for `project`, where the figure says so). */
  target: string;
  met: boolean;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error("median of nothing");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** A median over repetitions, with the spread it came from. */
export interface Sample {
  median: number;
  min: number;
  max: number;
}

export function sample(values: readonly number[]): Sample {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

/** A figure's side: a single value, or a median over repetitions with its spread. */
export type Value = number | Sample;

const valueOf = (v: Value): number => (typeof v === "number" ? v : v.median);

function spreadOf(project: Value, bound: Value): Pick<Figure, "spread"> {
  const range = (v: Value): [number, number] => (typeof v === "number" ? [v, v] : [round(v.min), round(v.max)]);
  return typeof project === "number" && typeof bound === "number" ? {} : { spread: { project: range(project), bound: range(bound) } };
}

/** Milliseconds `fn` takes. */
export async function timeMs(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

export function round(n: number, digits = 4): number {
  const f = 10 ** Math.max(0, digits - Math.max(0, Math.floor(Math.log10(Math.abs(n) || 1)) + 1));
  return Math.round(n * f) / f;
}

type Compare = "atMost" | "atLeast";

/** A figure whose ratio (project / bound) must be at most / at least `limit`. */
export function ratioFigure(name: string, unit: string, project: Value, bound: Value, compare: Compare, limit: number): Figure {
  const ratio = valueOf(project) / valueOf(bound);
  return {
    name,
    unit,
    project: round(valueOf(project)),
    bound: round(valueOf(bound)),
    ratio: round(ratio),
    ...spreadOf(project, bound),
    target: `${compare === "atMost" ? "≤" : "≥"} ${limit}×`,
    met: compare === "atMost" ? ratio <= limit : ratio >= limit,
  };
}

/** A figure shown for context, without a target. */
export function infoFigure(name: string, unit: string, project: Value, bound: Value): Figure {
  const [p, b] = [valueOf(project), valueOf(bound)];
  return { name, unit, project: round(p), bound: round(b), ratio: round(p / b), ...spreadOf(project, bound), target: "—", met: true };
}

export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/**
 * Opens (or keeps) `connections` connections of a pool and touches tasks on each, so the timed
 * part never pays a connection set-up or a cold catalog cache. Both pg.Pool and Prisma's adapter
 * close connections idle for 10 s (pg's idleTimeoutMillis default), and staging an incident takes
 * longer than that; without this, whichever side staged last would start warm.
 */
export async function warm(run: (sql: string) => Promise<unknown>, connections: number): Promise<void> {
  await Promise.all(Array.from({ length: connections }, () => run("SELECT count(*) FROM tasks WHERE id = 1 AND pg_sleep(0.01) IS NOT NULL")));
}

/**
 * A figure whose target is an absolute bound on the project's value (p95 ≤ 100 ms), shown beside
 * its same-run baseline (`bound`) so the reader sees what it grew from.
 */
export function limitFigure(name: string, unit: string, project: Value, baseline: Value, limit: number): Figure {
  const [p, b] = [valueOf(project), valueOf(baseline)];
  return { name, unit, project: round(p), bound: round(b), ratio: round(p / b), ...spreadOf(project, baseline), target: `project ≤ ${limit} ${unit}`, met: p <= limit };
}

/** The q-quantile (0..1) of `values`, nearest rank. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) throw new Error("quantile of nothing");
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
