// What a scale figure is: one file bench/figures/scale-<name>.ts whose default export is
// `defineScaleFigure({ covers, title, run })`. The scale run (bench/scale.ts) finds every such file,
// gives each its own freshly migrated database and Redis prefix, and prints what `run` returns in
// the normal run's table format (bench/report.ts), grouped by the target it covers
// (bench/scale-targets.ts). A figure measures the project's path and, in the same run, its
// baseline (the same path at the small size, or a lower bound in plain SQL), so the ratio holds
// on a shared machine. Keep imports from src/ few: a figure should survive a move of the code.
import type { Figure } from "./measure.js";
import type { ScaleTargetId } from "./scale-targets.js";

export interface ScaleContext {
  /** `--quick`: a CI-sized run (seconds to a minute per figure) instead of the full sizes (minutes). */
  readonly quick: boolean;
  /** Repetitions a figure should take per measurement (`--reps`; default 5, 3 with --quick). */
  readonly reps: number;
  /**
   * A database of this figure's own (`<bench database>_scale_<name>`), migrated. Dropped and
   * created afresh for every run unless `--reuse-db` is given; then `reused` is true and the
   * figure may keep a fixture it recognises (it must check, not assume).
   */
  readonly databaseUrl: string;
  readonly reused: boolean;
  readonly redisUrl: string;
  /** A Redis key prefix of this figure's own; the run deletes every key under it afterwards. */
  readonly redisPrefix: string;
  log(message: string): void;
}

export interface ScaleFigure {
  /** The targets (bench/scale-targets.ts) these figures answer. */
  readonly covers: readonly ScaleTargetId[];
  /** One line for the progress log. */
  readonly title: string;
  /** Seeds, measures, cleans up its processes; returns figures (bench/measure.ts helpers). */
  run(context: ScaleContext): Promise<Figure[]>;
}

export function defineScaleFigure(figure: ScaleFigure): ScaleFigure {
  return figure;
}

/** The file name's part after `scale-`: the figure's name in --only, its database and its JSON entry. */
export function scaleFigureName(fileName: string): string | undefined {
  return /^scale-([a-z0-9-]+)\.ts$/.exec(fileName)?.[1];
}
