import type { RedisConnection } from "../platform/redis.js";
import type { Db } from "../platform/db/client.js";
import { coalesced } from "../platform/coalesce.js";
import { withTimeout } from "../platform/deadline.js";
import type { Handler } from "../api/types.js";
import { RETRY_AFTER_SECONDS } from "../api/server.js";

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

/** The dependencies a readiness check may ask, each coalesced (see readinessProbes). */
export interface ReadinessProbes {
  readonly postgres: () => Promise<unknown>;
  readonly redis: () => Promise<unknown>;
}

/**
 * One PING and one `SELECT 1` at a time, shared by both listeners' readiness: however many probes
 * arrive (several kubelets, a flood), a frozen dependency is never sent a second one beside the
 * first, and an answer serves every probe of the next second.
 */
export function readinessProbes(deps: { db: Db; redis: RedisConnection }): ReadinessProbes {
  return {
    postgres: coalesced(READY_CACHE_MS, () => deps.db.$queryRaw`SELECT 1`),
    redis: coalesced(READY_CACHE_MS, () => deps.redis.ping()),
  };
}

/** What a failed check says on a listener that may face customers (`reasons: false`). */
export const NOT_READY_WITHOUT_REASON = "unavailable (the ops listener's /readyz says why)";

/**
 * Readiness of one listener: the dependencies it `needs` all answer. 503 (with Retry-After) names
 * the one that does not. Per listener, so one outage takes away only what needs it: the API
 * listener needs PostgreSQL only (its reads; PATCH answers 503 by itself without Redis), the ops
 * listener — the worker's own readiness: sweep, reprocess, board — needs both.
 * `reasons: false` (the API listener, answered without a token to whoever reaches it): a failed
 * check says only NOT_READY_WITHOUT_REASON, never the driver's error, which names the database's
 * address, user or database name (`connect ECONNREFUSED 10.0.3.7:5432`, `no pg_hba.conf entry …`).
 */
export function readyz(probes: ReadinessProbes, needs: readonly (keyof ReadinessProbes)[], options: { reasons?: boolean } = {}): Handler {
  const reasons = options.reasons ?? true;
  return async () => {
    const answers = await Promise.all(
      needs.map(async (name) => {
        const answer = await check(name, probes[name]);
        return [name, answer === "ok" || reasons ? answer : NOT_READY_WITHOUT_REASON] as const;
      }),
    );
    const ready = answers.every(([, answer]) => answer === "ok");
    return {
      status: ready ? 200 : 503,
      ...(ready ? {} : { headers: { "retry-after": String(RETRY_AFTER_SECONDS) } }),
      body: { status: ready ? "ready" : "not ready", checks: Object.fromEntries(answers) },
    };
  };
}
