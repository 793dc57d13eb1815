// Child process for the RSS figure: the whole worker (startWatchdog: database client, BullMQ workers,
// HTTP server with Bull Board and metrics), the way `npm start` runs it. It asks for one manual
// sweep on its queue, waits for it, and reports its own peak resident set size
// (VmHWM, /proc/self/status; also what of it is anonymous memory and what is mapped files, mostly
// the node binary, shared with every other node process) and what the sweep did.
// Usage: rss-child-worker <databaseUrl> <redisUrl> <queuePrefix> <batchSize>; prints one JSON line.
import { readFileSync } from "node:fs";
import { pino } from "pino";
import { startWatchdog } from "../src/app.js";
import { loadConfig } from "../src/platform/config/load-config.js";
import { backlogRules } from "./backlog-rules.js";
import { createLogger } from "../src/platform/logger.js";
import { createRedis } from "../src/platform/redis.js";
import { createSweepQueue, enqueueSweep } from "../src/sweep/sweep-queue.js";

function statusKb(field: "VmHWM" | "RssAnon" | "RssFile"): number {
  const line = readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith(`${field}:`));
  if (!line) throw new Error(`no ${field} in /proc/self/status`);
  return Number(line.replace(/\D+/g, ""));
}

const [databaseUrl, redisUrl, prefix, batchSize] = process.argv.slice(2);
if (!databaseUrl || !redisUrl || !prefix || !batchSize) throw new Error("usage: rss-child-worker <databaseUrl> <redisUrl> <queuePrefix> <batchSize>");
const config = loadConfig({ DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, QUEUE_PREFIX: prefix, API_PORT: "0", OPS_PORT: "0", SWEEP_SCHEDULE_ENABLED: "false", SWEEP_BATCH_SIZE: batchSize, LOG_LEVEL: "info" });
// Production logs a line per sweep and per batch to stdout; here they go to /dev/null (stdout carries the report).
const logger = createLogger({ level: "info", destination: pino.destination({ dest: "/dev/null", sync: true }) });
const watchdog = await startWatchdog(config, backlogRules(), logger);
const redis = createRedis(redisUrl);
const queue = createSweepQueue(redis, prefix);
try {
  const job = await enqueueSweep(queue, {});
  for (;;) {
    const state = await job.getState();
    if (state === "completed") break;
    if (state === "failed") throw new Error(`the sweep failed: ${(await queue.getJob(job.id!))?.failedReason}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const result = (await queue.getJob(job.id!))!.returnvalue as { reverted: number; movedToHistory: number };
  process.stdout.write(`${JSON.stringify({ vmHwmKb: statusKb("VmHWM"), rssAnonKb: statusKb("RssAnon"), rssFileKb: statusKb("RssFile"), acted: result.reverted + result.movedToHistory })}\n`);
} finally {
  await queue.close();
  await redis.quit();
  await watchdog.close();
}
