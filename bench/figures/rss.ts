// The worker's peak memory during recovery, in a child process — plain node on a bundle of the
// child + src, the way it runs from dist/, without tsx's loader thread in the measurement — that
// sweeps once and reports its own VmHWM. Two children: "sweep" (database client + runSweep, what the issue
// asks for) and "worker" (the whole startWatchdog: BullMQ workers, HTTP, Bull Board, metrics; the
// sweep arrives as a job). Bound: the same child when nothing is stuck, i.e. what the process
// needs anyway, so project / bound is what the recovery itself costs.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { build, type Plugin } from "esbuild";
import type { Redis } from "ioredis";
import { deletePrefix } from "../redis-keys.js";

const run = promisify(execFile);

/**
 * The node flags the worker runs with: `npm start`'s, which the image's entry point repeats
 * (test/unit/node-flags.test.ts). Its `--max-semi-space-size` sets how far the young generation,
 * and with it the peak RSS, may grow, so the children measure the worker as it is run.
 */
export function workerNodeFlags(): string[] {
  const start = (JSON.parse(readFileSync(`${ROOT}package.json`, "utf8")) as { scripts: { start: string } }).scripts.start;
  return start.split(/\s+/).filter((word) => /^--max-[a-z-]+-size=\d+$/.test(word));
}
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
// Inside node_modules so the bundle's bare imports (@prisma/client, pg, luxon) resolve as in dist/.
const OUT_DIR = `${ROOT}node_modules/.cache/task-watchdog-bench`;

export type ChildKind = "sweep" | "worker";

/** Bundles bench/rss-child-<kind>.ts; returns the file to run with plain node. */
const ownImportMetaUrl: Plugin = {
  name: "own-import-meta-url",
  setup(b) {
    b.onLoad({ filter: /\/src\/.*\.ts$/ }, async (args) => {
      const source = await readFile(args.path, "utf8");
      return { contents: source.replaceAll("import.meta.url", JSON.stringify(pathToFileURL(args.path).href)), loader: "ts" };
    });
  },
};

export async function bundleChild(kind: ChildKind): Promise<string> {
  mkdirSync(OUT_DIR, { recursive: true });
  const outfile = `${OUT_DIR}/rss-child-${kind}.mjs`;
  // Sources find package.json and prisma/ relative to their own file (import.meta.url); in one bundle
  // every file would share the bundle's URL, so each source file keeps its own.
  await build({
    entryPoints: [`${ROOT}bench/rss-child-${kind}.ts`],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    logLevel: "error",
    plugins: [ownImportMetaUrl],
  });
  return outfile;
}

export interface ChildRss {
  /** VmHWM. */
  peakMb: number;
  /** At the end: anonymous (the process's own) and file-backed (mostly the node binary) resident memory. */
  anonMb: number;
  fileMb: number;
  acted: number;
}

/** Runs one full sweep in a fresh child process; its peak RSS in MB and how many tasks it acted on. */
export async function childSweepRss(childFile: string, databaseUrl: string, redisUrl: string, queuePrefix: string, batchSize: number): Promise<ChildRss> {
  const { stdout } = await run(process.execPath, [...workerNodeFlags(), childFile, databaseUrl, redisUrl, queuePrefix, String(batchSize)], { cwd: ROOT, maxBuffer: 1 << 20 });
  const report = JSON.parse(stdout.trim().split("\n").at(-1)!) as { vmHwmKb: number; rssAnonKb: number; rssFileKb: number; acted: number };
  return { peakMb: report.vmHwmKb / 1024, anonMb: report.rssAnonKb / 1024, fileMb: report.rssFileKb / 1024, acted: report.acted };
}

export interface RssRuns {
  idle: ChildRss[];
  recovery: ChildRss[];
}

/**
 * For each child kind and each target (a table size), `reps` times: one child sweeping with nothing
 * stuck, then — after `stage` made `stuck` tasks stuck — one child recovering them. Sizes and kinds
 * interleave within each repetition. Returns, per kind, one RssRuns per target in the order given.
 */
export async function measureRss(options: {
  childFiles: Record<ChildKind, string>;
  targets: readonly { databaseUrl: string; stage: () => Promise<void> }[];
  redis: Redis;
  redisUrl: string;
  batchSize: number;
  stuck: number;
  reps: number;
}): Promise<Record<ChildKind, RssRuns[]>> {
  const prefix = `wdbench-rss-${randomBytes(4).toString("hex")}`;
  const runs: Record<ChildKind, RssRuns[]> = {
    sweep: options.targets.map(() => ({ idle: [], recovery: [] })),
    worker: options.targets.map(() => ({ idle: [], recovery: [] })),
  };
  try {
    for (let r = 0; r < options.reps; r++) {
      for (const kind of ["sweep", "worker"] as const) {
        for (const [i, target] of options.targets.entries()) {
          const idle = await childSweepRss(options.childFiles[kind], target.databaseUrl, options.redisUrl, prefix, options.batchSize);
          if (idle.acted !== 0) throw new Error(`the at-rest ${kind} child acted on ${idle.acted} tasks; nothing should be stuck`);
          runs[kind][i]!.idle.push(idle);
        }
        for (const [i, target] of options.targets.entries()) {
          await target.stage();
          const recovery = await childSweepRss(options.childFiles[kind], target.databaseUrl, options.redisUrl, prefix, options.batchSize);
          if (recovery.acted !== options.stuck) throw new Error(`the recovering ${kind} child reverted ${recovery.acted} of ${options.stuck} stuck tasks`);
          runs[kind][i]!.recovery.push(recovery);
        }
      }
    }
  } finally {
    await deletePrefix(options.redis, prefix);
  }
  return runs;
}
