// Rules that involve more than one setting, checked after each setting parsed on its own.
import { isIP } from "node:net";
import type { Config } from "./settings.js";
import { isoDuration } from "../../rules/duration.js";

/** 127.0.0.0/8, ::1 (also IPv4-mapped) and `localhost`: reachable from this machine only. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, "$1");
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  const v4 = h.startsWith("::ffff:") ? h.slice("::ffff:".length) : h;
  if (isIP(v4) === 4) return v4.startsWith("127.");
  if (isIP(h) === 6) return h === "::1" || /^(0{1,4}:){7}0{0,3}1$/.test(h);
  return false;
}

/**
 * Variables this version no longer reads. A deployment that still sets them would otherwise bind
 * the defaults silently (loopback, where nothing outside can reach it): refused, naming the new ones.
 */
const RETIRED: Record<string, string> = {
  HOST: "HOST is no longer read: the HTTP server is two listeners now, set API_HOST (the external API) and OPS_HOST (health, metrics, Bull Board)",
  PORT: "PORT is no longer read: the HTTP server is two listeners now, set API_PORT (the external API, default 3000) and OPS_PORT (health, metrics, Bull Board, default 3001)",
};

export function retiredSettingProblems(env: NodeJS.ProcessEnv): string[] {
  return Object.entries(RETIRED)
    .filter(([name]) => env[name] !== undefined && env[name] !== "")
    .map(([, message]) => message);
}

export function crossSettingProblems(config: Partial<Config>): string[] {
  const problems: string[] = [];
  const hasUser = config.bullBoardUser !== undefined;
  const hasPassword = config.bullBoardPassword !== undefined;
  if (hasUser !== hasPassword) problems.push(`BULL_BOARD_USER and BULL_BOARD_PASSWORD go together: set both (Basic auth for /admin/queues) or neither`);
  problems.push(...clusterProblems(config));
  // Overdue is judged against the last completed sweep: a bound no longer than the schedule's own gap is crossed between every two sweeps.
  const { sweepOverdueAfterMs: overdue, sweepIntervalMs: interval } = config;
  if (config.sweepScheduleEnabled !== false && overdue !== undefined && interval !== undefined && overdue <= interval) {
    problems.push(
      `SWEEP_OVERDUE_AFTER=${isoDuration(overdue / 1000)} is not longer than SWEEP_INTERVAL=${isoDuration(interval / 1000)}: /health/sweeps and watchdog_sweep_overdue would turn red between every two sweeps; ` +
        `set SWEEP_OVERDUE_AFTER above SWEEP_INTERVAL (e.g. ${isoDuration((3 * interval) / 1000)}, 3 × it) or unset it`,
    );
  }
  if (config.databasePoolSize !== undefined && config.reprocessConcurrency !== undefined && config.databasePoolSize < config.reprocessConcurrency + 1) {
    problems.push(
      `DATABASE_POOL_SIZE=${config.databasePoolSize} is less than REPROCESS_CONCURRENCY + 1 (${config.reprocessConcurrency + 1}): each reprocess in flight holds a connection and the sweep needs one more; raise DATABASE_POOL_SIZE or lower REPROCESS_CONCURRENCY`,
    );
  }
  return problems;
}

/**
 * On a Redis Cluster every key of one queue must live in one hash slot (BullMQ's scripts touch
 * several at once): only a prefix that is a hash tag, `{…}` first, guarantees that.
 */
function clusterProblems(config: Partial<Config>): string[] {
  if (config.redisClusterNodes === undefined) return [];
  const problems: string[] = [];
  if (config.queuePrefix !== undefined && !/^\{[^{}]+\}/.test(config.queuePrefix)) {
    problems.push(`QUEUE_PREFIX=${JSON.stringify(config.queuePrefix)} must start with a braced hash tag on a Redis Cluster (REDIS_CLUSTER_NODES is set), e.g. QUEUE_PREFIX={watchdog}, so that each queue's keys share one slot`);
  }
  if (config.redisUrl !== undefined) {
    const db = new URL(config.redisUrl).pathname.replace(/^\//, "");
    if (db !== "" && db !== "0") problems.push(`REDIS_URL selects database ${db}; a Redis Cluster has database 0 only (REDIS_CLUSTER_NODES is set): drop the /${db}`);
  }
  return problems;
}

/**
 * Checked by the worker before it connects anywhere (runWorkerProcess, and startWatchdog for
 * in-process starts), not by every command: `migrate` or `stuck` serve nothing. An ops listener
 * beyond loopback must not serve the board without credentials.
 */
export function exposureProblems(config: Pick<Config, "opsHost" | "bullBoardUser" | "bullBoardPassword">): string[] {
  if (config.bullBoardUser !== undefined && config.bullBoardPassword !== undefined) return [];
  if (isLoopbackHost(config.opsHost)) return [];
  return [
    `OPS_HOST=${JSON.stringify(config.opsHost)} exposes the ops listener beyond this machine, and Bull Board (/admin/queues) has no credentials: ` +
      `set BULL_BOARD_USER and BULL_BOARD_PASSWORD, or bind a loopback OPS_HOST (127.0.0.1, ::1, localhost)`,
  ];
}
