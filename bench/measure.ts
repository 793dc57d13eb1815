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
export function ratioFigure(name: string, unit: string, project: number, bound: number, compare: Compare, limit: number): Figure {
  const ratio = project / bound;
  return {
    name,
    unit,
    project: round(project),
    bound: round(bound),
    ratio: round(ratio),
    target: `${compare === "atMost" ? "≤" : "≥"} ${limit}×`,
    met: compare === "atMost" ? ratio <= limit : ratio >= limit,
  };
}

/** A figure shown for context, without a target. */
export function infoFigure(name: string, unit: string, project: number, bound: number): Figure {
  return { name, unit, project: round(project), bound: round(bound), ratio: round(project / bound), target: "—", met: true };
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
export function limitFigure(name: string, unit: string, project: number, baseline: number, limit: number): Figure {
  return { name, unit, project: round(project), bound: round(baseline), ratio: round(project / baseline), target: `project ≤ ${limit} ${unit}`, met: project <= limit };
}

/** The q-quantile (0..1) of `values`, nearest rank. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) throw new Error("quantile of nothing");
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
