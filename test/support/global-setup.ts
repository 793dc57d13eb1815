// Creates one fresh, migrated PostgreSQL database for this run and checks Redis answers.
// When either service is unreachable the run FAILS here with the reason; nothing is skipped.
// TEST_DATABASE_VIA=pgbouncer: the tests' DATABASE_URL goes through a PgBouncer of this run's own in
// transaction pooling (test/support/pgbouncer.ts), as a platform of many replicas runs it; the
// migrations still run on a direct connection, as the migrate Job does.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { Redis } from "ioredis";
import type { TestProject } from "vitest/node";
import { migrate } from "../../src/platform/db/migrate.js";
import { MIGRATIONS_DIR } from "../../src/cli/paths.js";
import { startPgBouncer, type PgBouncer } from "./pgbouncer.js";

const ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379/0";
const VIA = process.env.TEST_DATABASE_VIA ?? "direct";

declare module "vitest" {
  export interface ProvidedContext {
    /** This run's database: direct, or through PgBouncer with TEST_DATABASE_VIA=pgbouncer. */
    databaseUrl: string;
    /** This run's database, always direct. */
    directDatabaseUrl: string;
    adminDatabaseUrl: string;
    redisUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const name = `watchdog_test_${process.pid}_${randomBytes(3).toString("hex")}`;
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const databaseUrl = url.toString();

  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on("error", () => undefined); // the failed connect() below reports it, once, with the fix
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(`Redis is not reachable at ${REDIS_URL} (${(error as Error).message}). Start it (docs/development.md; .ci/run does it for CI); tests never skip.`);
  } finally {
    redis.disconnect();
  }
  try {
    await migrate(databaseUrl, MIGRATIONS_DIR);
  } catch (error) {
    throw new Error(`PostgreSQL is not usable at ${ADMIN_URL} (${(error as Error).message}). Start it (docs/development.md; .ci/run does it for CI); tests never skip.`);
  }
  if (VIA !== "direct" && VIA !== "pgbouncer") throw new Error(`TEST_DATABASE_VIA=${VIA}: expected direct (the default) or pgbouncer`);
  let bouncer: PgBouncer | undefined;
  if (VIA === "pgbouncer") {
    // PgBouncer drops the start-up `options` that carry the worker's timeouts: the database carries
    // them instead, as docs/performance.md tells an operator to do for the role.
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    for (const setting of ["lock_timeout = '15s'", "statement_timeout = '30s'", "idle_in_transaction_session_timeout = '30s'"]) {
      await admin.query(`ALTER DATABASE ${pg.escapeIdentifier(name)} SET ${setting}`);
    }
    await admin.end();
    bouncer = await startPgBouncer(databaseUrl, { poolSize: 20, roundRobin: true });
  }
  project.provide("databaseUrl", bouncer?.url ?? databaseUrl);
  project.provide("directDatabaseUrl", databaseUrl);
  project.provide("adminDatabaseUrl", ADMIN_URL);
  project.provide("redisUrl", REDIS_URL);

  return async () => {
    await bouncer?.stop();
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
    await admin.end();
  };
}
