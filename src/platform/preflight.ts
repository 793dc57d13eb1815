// Before the worker starts: are Redis and PostgreSQL there, do they let us in, is the schema
// migrated? Each check is bounded, so a missing service ends start-up within seconds with one line
// naming the variable and the fix, instead of a worker that hangs, or logs "started" and then fails.
import pg from "pg";
import type { Config } from "./config/settings.js";
import { migrationNames } from "./db/migrate.js";
import { withTimeout } from "./deadline.js";
import { createRedis } from "./redis.js";
import { describePostgresError, describeRedisError, ServiceError } from "./service-errors.js";

/** How long each check may take: start-up fails within about twice this. */
export const PREFLIGHT_TIMEOUT_MS = 5000;

/**
 * Connects once (no retry) and PINGs; a ServiceError naming REDIS_URL when that fails, or when the
 * server is a read-only replica and the caller writes (`readOnly` false, the default).
 */
export async function checkRedis(config: Pick<Config, "redisUrl" | "redisClusterNodes">, timeoutMs = PREFLIGHT_TIMEOUT_MS, options: { readOnly?: boolean } = {}): Promise<void> {
  const redis = createRedis(config.redisUrl, {
    clusterNodes: config.redisClusterNodes,
    purpose: "request",
    lazyConnect: true,
    retryStrategy: () => null,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
  });
  // The error event carries the reason (ECONNREFUSED, WRONGPASS); without a listener ioredis prints it to stderr.
  let reason: unknown;
  redis.on("error", (error: unknown) => (reason ??= error));
  let role: unknown;
  try {
    await withTimeout(
      timeoutMs,
      "Redis",
      redis
        .connect()
        .then(() => redis.ping())
        // A replica refuses every write with READONLY, on which the worker's connections reconnect (a
        // failover moves the address to the new primary): pointed at one, the start would wait for ever.
        // A cluster's nodes redirect by themselves; a ROLE the server refuses (ACL) is no answer.
        .then(async () => {
          if (!options.readOnly && !config.redisClusterNodes?.length) role = ((await redis.call("ROLE").catch(() => [])) as unknown[])[0];
        }),
    );
  } catch (error) {
    throw new ServiceError(describeRedisError(reason ?? error, config.redisUrl));
  } finally {
    redis.disconnect();
  }
  if (role === "slave") throw new ServiceError(describeRedisError(new Error("READONLY"), config.redisUrl));
  // ioredis reports a failed SELECT as an error event and goes on, on database 0 (a shared Redis's
  // default): refuse it here, before anything of ours is written there.
  if (reason !== undefined && /DB index is out of range/i.test(String((reason as Error).message ?? reason))) {
    const index = new URL(config.redisUrl).pathname.replace(/^\//, "");
    throw new ServiceError(
      `REDIS_URL selects database ${index}, which this Redis server does not have (its "databases" setting, 16 by default, numbers them from 0): use an index it has, e.g. redis://host:6379/0`,
    );
  }
}

/**
 * Connects, and (with `migrationsDir`) checks that every migration on disk is applied; a
 * ServiceError naming DATABASE_URL and the fix when not. A database ahead of this code (a newer
 * replica migrated it) is fine.
 */
export async function checkPostgres(databaseUrl: string, migrationsDir: string | undefined, timeoutMs = PREFLIGHT_TIMEOUT_MS): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs });
  client.on("error", () => undefined); // a connection lost after the check: nothing to do, end() follows
  try {
    await withTimeout(timeoutMs, "PostgreSQL", client.connect());
    if (migrationsDir === undefined) return;
    let applied: Set<string>;
    try {
      const { rows } = await client.query<{ migration_name: string }>(`SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`);
      applied = new Set(rows.map((r) => r.migration_name));
    } catch (error) {
      if ((error as { code?: string }).code === "42P01") applied = new Set();
      else throw error;
    }
    const pending = migrationNames(migrationsDir).filter((name) => !applied.has(name));
    if (pending.length > 0) {
      const database = decodeURIComponent(new URL(databaseUrl).pathname.replace(/^\//, ""));
      throw new ServiceError(
        `PostgreSQL (DATABASE_URL): the database ${JSON.stringify(database)} lacks ${pending.length} migration(s) (${pending.slice(0, 3).join(", ")}${pending.length > 3 ? ", …" : ""}): run \`npm run db:migrate\``,
      );
    }
  } catch (error) {
    if (error instanceof ServiceError) throw error;
    throw new ServiceError(describePostgresError(error, databaseUrl));
  } finally {
    await client.end().catch(() => undefined);
  }
}
