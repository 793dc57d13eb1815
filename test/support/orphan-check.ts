// Run by test/integration/cli-children.test.ts as a process of its own: starts the worker through
// runCli, prints its pid, then exits abruptly (as a test file's process does when a test times out).
import { runCli } from "./worker-process.js";

const [databaseUrl, redisUrl, prefix] = process.argv.slice(2) as [string, string, string];
const cli = runCli(["start"], { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, QUEUE_PREFIX: prefix, API_PORT: "0", OPS_PORT: "0", SWEEP_SCHEDULE_ENABLED: "false" });
await cli.waitForLog("watchdog started", 60_000);
console.log(String(cli.proc.pid));
process.exit(1);
