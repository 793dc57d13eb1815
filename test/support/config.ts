import { loadConfig } from "../../src/platform/config/load-config.js";
import type { Config } from "../../src/platform/config/settings.js";
import { testDatabaseUrl } from "./db.js";
import { testRedisUrl } from "./redis.js";

/**
 * A real, validated configuration pointed at this run's database, Redis and a prefix of the test's own.
 * In `env`, "" means "leave this setting unset" (loadConfig itself refuses an empty variable).
 */
export function testConfig(prefix: string, env: Record<string, string> = {}): Config {
  const given = Object.entries({
    DATABASE_URL: testDatabaseUrl(),
    REDIS_URL: testRedisUrl(),
    QUEUE_PREFIX: prefix,
    API_PORT: "0",
    OPS_PORT: "0",
    LOG_LEVEL: "silent",
    SWEEP_SCHEDULE_ENABLED: "false",
    ...env,
  }).filter(([, value]) => value !== "");
  return loadConfig(Object.fromEntries(given));
}
