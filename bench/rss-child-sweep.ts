// Child process for the RSS figure: the sweep alone (the database client, the default rules with the incident's hold off, runSweep), as
// the issue asks: runs one full sweep and reports its own peak resident set size (VmHWM,
// /proc/self/status). bench/rss-child-worker.ts measures the whole worker around it.
// Usage: rss-child-sweep <databaseUrl> <redisUrl (unused)> <queuePrefix (unused)> <batchSize>; prints one JSON line.
import { readFileSync } from "node:fs";
import { createDb } from "../src/platform/db/client.js";
import { backlogRules } from "./backlog-rules.js";
import { runSweep } from "../src/sweep/run-sweep.js";

function statusKb(field: "VmHWM" | "RssAnon" | "RssFile"): number {
  const line = readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith(`${field}:`));
  if (!line) throw new Error(`no ${field} in /proc/self/status`);
  return Number(line.replace(/\D+/g, ""));
}

const [databaseUrl, , , batchSize] = process.argv.slice(2);
if (!databaseUrl || !batchSize) throw new Error("usage: rss-child-sweep <databaseUrl> <redisUrl> <queuePrefix> <batchSize>");
const db = createDb(databaseUrl);
try {
  const result = await runSweep(db, backlogRules(), { sweepId: "bench-rss", dryRun: false, batchSize: Number(batchSize) });
  process.stdout.write(`${JSON.stringify({ vmHwmKb: statusKb("VmHWM"), rssAnonKb: statusKb("RssAnon"), rssFileKb: statusKb("RssFile"), acted: result.reverted + result.movedToHistory })}\n`);
} finally {
  await db.$disconnect();
}
