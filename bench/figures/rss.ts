// The worker's peak memory during recovery. The project's sweep runs in a child process (plain
// node on a bundle of bench/rss-child.ts + src, the way the worker runs from dist/, without tsx's
// loader thread in the measurement) that reports its own VmHWM. Bound: the same child when nothing
// is stuck: what the process needs anyway (runtime, Prisma, pool), so project / bound is what the
// recovery itself costs.
import { execFile } from "node:child_process";
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { build } from "esbuild";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
// Inside node_modules so the bundle's bare imports (@prisma/client, pg, luxon) resolve as in dist/.
const OUT_DIR = `${ROOT}node_modules/.cache/task-watchdog-bench`;

export async function bundleChild(): Promise<string> {
  mkdirSync(OUT_DIR, { recursive: true });
  const outfile = `${OUT_DIR}/rss-child.mjs`;
  await build({ entryPoints: [`${ROOT}bench/rss-child.ts`], outfile, bundle: true, platform: "node", format: "esm", target: "node20", packages: "external", logLevel: "error" });
  return outfile;
}

export interface ChildRss {
  peakMb: number;
  acted: number;
}

/** Runs one full sweep in a fresh child process; its peak RSS in MB and how many tasks it acted on. */
export async function childSweepRss(childFile: string, databaseUrl: string, batchSize: number): Promise<ChildRss> {
  const { stdout } = await run(process.execPath, [childFile, databaseUrl, String(batchSize)], { cwd: ROOT, maxBuffer: 1 << 20 });
  const report = JSON.parse(stdout.trim().split("\n").at(-1)!) as { vmHwmKb: number; acted: number };
  return { peakMb: report.vmHwmKb / 1024, acted: report.acted };
}
