// Creates one fresh, migrated PostgreSQL database for this run and checks Redis answers.
// When either service is unreachable the run FAILS here with the reason; nothing is skipped.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { Redis } from "ioredis";
import type { TestProject } from "vitest/node";
import { migrate } from "../../src/platform/db/migrate.js";
import { MIGRATIONS_DIR } from "../../src/cli/paths.js";

const ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379/0";

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string;
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
  project.provide("databaseUrl", databaseUrl);
  project.provide("adminDatabaseUrl", ADMIN_URL);
  project.provide("redisUrl", REDIS_URL);

  return async () => {
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
    await admin.end();
  };
}
