import type { RedisConnection } from "../queues/redis.js";
import type { Db } from "../db/client.js";
import type { Handler } from "./types.js";

/** Liveness: the process is up and its event loop answers. */
export const healthz: Handler = () => ({ status: 200, body: { status: "ok" } });

const CHECK_TIMEOUT_MS = 2000;

async function check(probe: () => Promise<unknown>): Promise<"ok" | string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return "ok";
  } catch (error) {
    return (error as Error).message || String(error);
  } finally {
    clearTimeout(timer);
  }
}

/** Readiness: Redis and PostgreSQL both answer. 503 names the one that does not. */
export function readyz(deps: { db: Db; redis: RedisConnection }): Handler {
  return async () => {
    const [redis, postgres] = await Promise.all([check(() => deps.redis.ping()), check(() => deps.db.$queryRaw`SELECT 1`)]);
    const ready = redis === "ok" && postgres === "ok";
    return { status: ready ? 200 : 503, body: { status: ready ? "ready" : "not ready", checks: { redis, postgres } } };
  };
}
