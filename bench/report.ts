// The table on stdout and the JSON file: figures plus the machine, versions and date they hold for.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname } from "node:path";
import type pg from "pg";
import type { Redis } from "ioredis";
import type { Figure } from "./measure.js";

export interface Environment {
  machine: { cpus: number; cpuModel: string; memoryMb: number; loadAverageAtStart: number[] };
  versions: { node: string; postgres: string; redis: string; bullmq: string; prisma: string; prismaClient: string; adapterPg: string; pg: string };
}

// Read from node_modules directly: some packages (@prisma/adapter-pg) do not export ./package.json.
const NODE_MODULES = new URL("../node_modules/", import.meta.url);
const packageVersion = (name: string): string => (JSON.parse(readFileSync(new URL(`${name}/package.json`, NODE_MODULES), "utf8")) as { version: string }).version;

export async function describeEnvironment(pool: pg.Pool, redis: Redis, loadAverage: number[]): Promise<Environment> {
  const { rows } = await pool.query<{ server_version: string }>("SHOW server_version");
  const info = await redis.info("server");
  return {
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? "unknown", memoryMb: Math.round(totalmem() / 1048576), loadAverageAtStart: loadAverage.map((l) => Math.round(l * 100) / 100) },
    versions: {
      node: process.version,
      postgres: rows[0]!.server_version,
      redis: /redis_version:(\S+)/.exec(info)?.[1] ?? "unknown",
      bullmq: packageVersion("bullmq"),
      prisma: packageVersion("prisma"),
      prismaClient: packageVersion("@prisma/client"),
      adapterPg: packageVersion("@prisma/adapter-pg"),
      pg: packageVersion("pg"),
    },
  };
}

export function printTable(figures: readonly Figure[]): string {
  const header = ["figure", "unit", "project", "bound", "ratio", "spread", "target", ""];
  const rows = figures.map((f) => [f.name, f.unit, fmt(f.project), fmt(f.bound), `${fmt(f.ratio)}×`, spread(f), f.target, f.target === "—" ? "" : f.met ? "ok" : "MISSED"]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 2 && i <= 5 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/**
 * How far the repetitions behind each median spread: half the range as a share of the median,
 * project / bound ("±3% / ±5%"); empty for a figure that is not a median over repetitions.
 */
function spread(f: Figure): string {
  if (!f.spread) return "";
  const half = ([lo, hi]: [number, number], mid: number) => `±${mid === 0 ? 0 : Math.round(((hi - lo) / 2 / Math.abs(mid)) * 100)}%`;
  return `${half(f.spread.project, f.project)} / ${half(f.spread.bound, f.bound)}`;
}

function fmt(n: number): string {
  return n >= 1000 ? Math.round(n).toLocaleString("en-US") : String(n);
}

export function writeResults(file: string, content: object): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(content, null, 2)}\n`);
}
