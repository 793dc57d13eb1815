// Command-line options of `npm run bench`. Every option has a default that reproduces the
// committed bench/results/latest.json; --quick is the CI-sized run.
export interface BenchOptions {
  /** Rows in the tasks table at the large size; the small size (a second database) is a tenth of it. */
  rows: number;
  /** Tasks stuck in one status for the recovery, history and RSS figures. */
  stuck: number;
  /** Tasks the naive row-by-row loop handles (it is ~30× slower, so a sample). */
  rowByRow: number;
  /** Reprocess jobs per repetition, for the project and for plain BullMQ. */
  jobs: number;
  /** Repetitions per figure; the median is reported. */
  reps: number;
  /** The sweep's batch size (the project default is 1000). */
  batchSize: number;
  databaseUrl: string;
  redisUrl: string;
  /** Where the JSON goes; null prints the table only. */
  out: string | null;
  /** `--scale`: the scale run (bench/scale.ts) instead of the normal one. */
  scale: boolean;
  /** `--quick`: the CI-sized variant of either run. */
  quick: boolean;
  /** `--only a,b`: with --scale, only these scale figures (bench/figures/scale-<name>.ts). */
  only: string[] | null;
  /** `--reuse-db`: with --scale, keep each figure's database from the last run instead of recreating it. */
  reuseDb: boolean;
  /** `--loaded`: a CPU competitor busy on every core but one for the whole run (bench/competitor.ts). */
  loaded: boolean;
}

const USAGE = `usage: npm run bench -- [--quick] [--loaded] [--rows N] [--stuck N] [--row-by-row N] [--jobs N] [--reps N]
                          [--batch-size N] [--database-url URL] [--redis-url URL] [--out FILE | --no-out]
       npm run bench -- --scale [--quick] [--loaded] [--only NAME,…] [--reuse-db] [--reps N] [--database-url URL]
                          [--redis-url URL] [--out FILE | --no-out]

  --quick          100,000 rows (small size 10,000), 10,000 stuck, 1,000 jobs, 3 repetitions: a CI-sized
                   run of a minute or two
  --loaded         run a CPU competitor (a busy loop) on every core but one for the whole run, as on a
                   production machine that is shared; results go to a *-loaded.json beside the default
  --rows N         rows in the tasks table at the large size (default 1,000,000; the small size is N/10)
  --stuck N        tasks stuck in one status for recovery / history / RSS (default min(100,000, rows/10))
  --row-by-row N   tasks the naive row-by-row loop handles (default 5,000; 2,000 with --quick)
  --jobs N         reprocess jobs per repetition (default 2,000)
  --reps N         repetitions per figure, the median is reported (default 5; RSS uses at most 3)
  --batch-size N   sweep batch size (default 1000, the project default)
  --database-url   default $BENCH_DATABASE_URL or postgresql://postgres@127.0.0.1:5432/task_watchdog_bench
                   and the same name + "_small" for the small table; both are created, migrated and
                   TRUNCATED: never point them at real data
  --redis-url      default $BENCH_REDIS_URL or redis://127.0.0.1:6379/0 (keys under a random wdbench-* prefix)
  --out FILE       JSON results (default bench/results/latest.json for a full run, bench/results/quick.json
                   for --quick, bench/results/scale.json for --scale, scale-quick.json for both); --no-out writes nothing

  --scale          the scale run: every bench/figures/scale-*.ts against the targets of docs/performance.md,
                   "Scale"; each figure in its own database <database-url>_scale_<name>, dropped and created
                   afresh (sized for minutes on 2 cores; --quick for a smoke run)
  --only NAME,…    with --scale: only these figures (the part of the file name after "scale-")
  --reuse-db       with --scale: keep each figure's database from the previous run (a figure reuses a
                   fixture it recognises, e.g. to iterate on a measurement without seeding again)`;

export class UsageError extends Error {
  override name = "UsageError";
  /** True for --help: the usage goes to stdout and the exit code is 0. */
  constructor(message: string, readonly help = false) {
    super(message);
  }
}

export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const values = new Map<string, string>();
  const flags = new Set<string>();
  const valued = new Set(["--rows", "--stuck", "--row-by-row", "--jobs", "--reps", "--batch-size", "--database-url", "--redis-url", "--out", "--only"]);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--help" || arg === "-h") throw new UsageError(USAGE, true);
    const [name, inline] = arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    if (valued.has(name)) {
      const value = inline ?? argv[++i];
      if (value === undefined) throw new UsageError(`${name} needs a value\n\n${USAGE}`);
      values.set(name, value);
    } else if (["--quick", "--no-out", "--scale", "--reuse-db", "--loaded"].includes(name)) {
      flags.add(name);
    } else {
      throw new UsageError(`unknown option "${arg}"\n\n${USAGE}`);
    }
  }
  const quick = flags.has("--quick");
  const scale = flags.has("--scale");
  for (const scaleOnly of ["--only", "--reuse-db"]) {
    if (!scale && (values.has(scaleOnly) || flags.has(scaleOnly))) throw new UsageError(`${scaleOnly} belongs to the scale run: add --scale`);
  }
  const only = values.get("--only")?.split(",").map((n) => n.trim()).filter((n) => n !== "") ?? null;
  if (only !== null && only.length === 0) throw new UsageError(`--only needs at least one figure name, e.g. --only status-list`);
  const loaded = flags.has("--loaded");
  const baseOut = scale ? (quick ? "bench/results/scale-quick" : "bench/results/scale") : quick ? "bench/results/quick" : "bench/results/latest";
  const defaultOut = `${baseOut}${loaded ? "-loaded" : ""}.json`;
  const int = (name: string, fallback: number, min: number): number => {
    const raw = values.get(name);
    if (raw === undefined) return fallback;
    const n = Number(raw.replaceAll("_", ""));
    if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`${name} must be an integer ≥ ${min}, got "${raw}"`);
    return n;
  };
  const rows = int("--rows", quick ? 100_000 : 1_000_000, 10_000);
  const stuck = int("--stuck", Math.min(100_000, Math.floor(rows / 10)), 100);
  if (stuck > rows / 10) throw new UsageError(`--stuck ${stuck} is more than a tenth of --rows ${rows}: the small table (rows/10) must hold the stuck tasks`);
  const rowByRow = int("--row-by-row", Math.min(quick ? 2_000 : 5_000, stuck), 100);
  if (rowByRow > stuck) throw new UsageError(`--row-by-row ${rowByRow} is more than --stuck ${stuck}`);
  return {
    rows,
    stuck,
    rowByRow,
    jobs: int("--jobs", quick ? 1_000 : 2_000, 10),
    reps: int("--reps", quick ? 3 : 5, 1),
    batchSize: int("--batch-size", 1000, 1),
    databaseUrl: values.get("--database-url") ?? env.BENCH_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/task_watchdog_bench",
    redisUrl: values.get("--redis-url") ?? env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379/0",
    out: flags.has("--no-out") ? null : (values.get("--out") ?? defaultOut),
    scale,
    quick,
    only,
    reuseDb: flags.has("--reuse-db"),
    loaded,
  };
}
