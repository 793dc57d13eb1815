import type { RedisConnection } from "../platform/redis.js";
import type { Db } from "../platform/db/client.js";
import { coalesced } from "../platform/coalesce.js";
import { withTimeout } from "../platform/deadline.js";
import type { Handler } from "../api/types.js";

/** Liveness: the process is up and its event loop answers. */
export const healthz: Handler = () => ({ status: 200, body: { status: "ok" } });

const CHECK_TIMEOUT_MS = 2000;
/** One check's answer serves every probe of the next second. */
const READY_CACHE_MS = 1000;

async function check(name: string, probe: () => Promise<unknown>): Promise<"ok" | string> {
  try {
    await withTimeout(CHECK_TIMEOUT_MS, name, probe());
    return "ok";
  } catch (error) {
    return (error as Error).message || String(error);
  }
}

/**
 * Readiness: Redis and PostgreSQL both answer. 503 names the one that does not. Each dependency's
 * probe is coalesced: however many probes arrive (several kubelets, a flood), at most one PING and
 * one `SELECT 1` are in flight, and a frozen dependency is never sent a second one beside the first.
 */
export function readyz(deps: { db: Db; redis: RedisConnection }): Handler {
  const pingRedis = coalesced(READY_CACHE_MS, () => deps.redis.ping());
  const pingPostgres = coalesced(READY_CACHE_MS, () => deps.db.$queryRaw`SELECT 1`);
  return async () => {
    const [redis, postgres] = await Promise.all([check("redis", pingRedis), check("postgres", pingPostgres)]);
    const ready = redis === "ok" && postgres === "ok";
    return { status: ready ? 200 : 503, body: { status: ready ? "ready" : "not ready", checks: { redis, postgres } } };
  };
}
