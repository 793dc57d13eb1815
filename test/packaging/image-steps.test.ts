// The container image, checked on a machine without a Docker engine: the Dockerfile lints clean,
// the compose file is valid and demands its secrets, and the Dockerfile's own stages — run outside
// a container on a clean copy of the repository — give a production tree that migrates a fresh
// database, answers its HEALTHCHECK and shuts down cleanly on SIGTERM.
// Slow (two `npm ci` from the registry): about a minute.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, describe, expect, inject, it } from "vitest";
import { deletePrefix, testRedisUrl, uniquePrefix } from "../support/redis.js";
import { copyBuildContext } from "./build-context.js";
import { buildOutsideContainer, hostArgv, run } from "./dockerfile.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BOARD = { BULL_BOARD_USER: "operator", BULL_BOARD_PASSWORD: "packaging-test-password" };
const BASE_ENV = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp" };

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe("Dockerfile", () => {
  it("when linted with dockerfile-utils, then it reports no error and no warning", async () => {
    const lint = await run([join(ROOT, "node_modules/.bin/dockerfile-utils"), "lint", "--json", "Dockerfile"], { cwd: ROOT, env: BASE_ENV });
    expect(lint.code, lint.output).toBe(0);
    expect(JSON.parse(lint.output)).toEqual([]);
  });
});

describe("docker-compose.yml", () => {
  // An empty env file, so a developer's .env cannot supply what the test leaves out.
  const envDir = mkdtempSync(join(tmpdir(), "watchdog-compose-"));
  cleanups.push(() => rmSync(envDir, { recursive: true, force: true }));
  const emptyEnvFile = join(envDir, "empty.env");
  writeFileSync(emptyEnvFile, "");
  const compose = (env: Record<string, string>, args: string[]) =>
    run(["docker-compose", "--env-file", emptyEnvFile, "-f", "docker-compose.yml", "config", ...args], { cwd: ROOT, env: { ...BASE_ENV, ...env } }).catch(
      (error: Error) => {
        throw new Error(`docker-compose (v1) is needed to validate the compose file offline: apt-get install -y docker-compose (.ci/run does). ${error.message}`);
      },
    );
  const secrets = { POSTGRES_PASSWORD: "compose-pg-password", ...BOARD };

  it("when validated with its secrets set, then it is valid and keeps Redis' append-only file and the start order", async () => {
    const quiet = await compose(secrets, ["-q"]);
    expect(quiet.code, quiet.output).toBe(0);
    const resolved = await compose(secrets, []);
    expect(resolved.code, resolved.output).toBe(0);
    expect(resolved.output).toMatch(/- --appendonly\n\s+- "yes"/);
    expect(resolved.output).toMatch(/migrate:\n\s+condition: service_completed_successfully/);
    // Both listeners published on the host's loopback; the health check asks the ops listener.
    expect(resolved.output).toContain("- 127.0.0.1:3000:3000/tcp");
    expect(resolved.output).toContain("- 127.0.0.1:3001:3001/tcp");
    expect(resolved.output).toContain("http://127.0.0.1:3001/healthz");
  });

  for (const missing of ["POSTGRES_PASSWORD", "BULL_BOARD_USER", "BULL_BOARD_PASSWORD"] as const) {
    it(`when ${missing} is not set, then compose refuses and names it (no default secret in the file)`, async () => {
      const { [missing]: _left, ...rest } = secrets;
      const result = await compose(rest, ["-q"]);
      expect(result.code).not.toBe(0);
      expect(result.output).toContain(`set ${missing}`);
    });
  }
});

describe("the image's steps outside a container, on a clean copy", () => {
  it(
    "when the Dockerfile's stages run, then the runtime tree holds production dependencies only, migrates a fresh database, passes its HEALTHCHECK and exits 0 on SIGTERM",
    { timeout: 300_000 },
    async () => {
      const work = mkdtempSync(join(tmpdir(), "watchdog-image-"));
      cleanups.push(() => rmSync(work, { recursive: true, force: true }));
      copyBuildContext(ROOT, join(work, "context"));
      const image = await buildOutsideContainer(join(ROOT, "Dockerfile"), join(work, "context"), join(work, "stages"));

      // Only what the worker runs: no sources, no dev tools, no Prisma CLI.
      expect(image.user).toBe("node");
      expect(readdirSync(image.dir).sort()).toEqual(["dist", "node_modules", "package.json", "prisma"]);
      for (const devOnly of ["prisma", "typescript", "vitest", "tsx", "@prisma/engines"]) {
        expect(existsSync(join(image.dir, "node_modules", devOnly)), `node_modules/${devOnly} in the runtime stage`).toBe(false);
      }

      // `docker run <image> migrate`: the compiled CLI creates and migrates a database of its own.
      const admin = new URL(inject("adminDatabaseUrl"));
      const database = `watchdog_image_${process.pid}_${randomBytes(3).toString("hex")}`;
      cleanups.push(async () => {
        const client = new pg.Client({ connectionString: admin.toString() });
        await client.connect();
        await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`);
        await client.end();
      });
      const databaseUrl = new URL(admin);
      databaseUrl.pathname = `/${database}`;
      const prefix = uniquePrefix();
      cleanups.push(() => deletePrefix(prefix));
      const port = String(await freePort());
      const apiPort = String(await freePort());
      const env = {
        ...BASE_ENV,
        ...image.env,
        ...BOARD,
        DATABASE_URL: databaseUrl.toString(),
        REDIS_URL: testRedisUrl(),
        QUEUE_PREFIX: prefix,
        API_PORT: apiPort,
        OPS_PORT: port,
        LOG_LEVEL: "info",
      };
      // As compose's `migrate` service runs it: the image's OPS_HOST=0.0.0.0 and no board credentials (it serves no HTTP).
      const { BULL_BOARD_USER: _u, BULL_BOARD_PASSWORD: _p, ...withoutBoard } = env;
      const migrate = await run(hostArgv([...image.entrypoint, "migrate"]), { cwd: image.dir, env: withoutBoard });
      expect(migrate.code, migrate.output).toBe(0);
      // stdout is the one JSON line; stderr tells of each partition's index built (the partitioned task_events).
      expect(JSON.parse(migrate.stdout)).toMatchObject({
        createdDatabase: true,
        applied: readdirSync(join(ROOT, "prisma/migrations")).filter((n) => /^\d/.test(n)).sort(),
        finishedPartitionIndexes: expect.arrayContaining(["task_events_default_task_id_id_idx"]),
      });
      expect(migrate.output).toMatch(/^watchdog migrate: building index task_events_task_id_id_idx on partition task_events_default \(CREATE INDEX CONCURRENTLY task_events_default_task_id_id_idx\)$/m);

      // The image's ops listener is on 0.0.0.0: without the board's credentials it must not start.
      const refused = await run(hostArgv([...image.entrypoint, ...image.cmd]), { cwd: image.dir, env: withoutBoard });
      expect(refused.code).toBe(1);
      expect(refused.output).toContain("BULL_BOARD_PASSWORD");

      // `docker run <image>`: ENTRYPOINT + CMD, then the HEALTHCHECK's own command.
      const worker = spawn(hostArgv([...image.entrypoint, ...image.cmd])[0]!, hostArgv([...image.entrypoint, ...image.cmd]).slice(1), {
        cwd: image.dir,
        env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let logs = "";
      worker.stdout.on("data", (chunk: Buffer) => (logs += chunk.toString()));
      worker.stderr.on("data", (chunk: Buffer) => (logs += chunk.toString()));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        worker.on("exit", (code, signal) => resolve({ code, signal })),
      );
      cleanups.push(() => worker.exitCode === null && worker.signalCode === null && worker.kill("SIGKILL"));

      let healthy = false;
      for (let attempt = 0; attempt < 150 && !healthy && worker.exitCode === null; attempt++) {
        healthy = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status === 200, () => false);
        if (!healthy) await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(healthy, `no 200 from /healthz within 30 s:\n${logs}`).toBe(true);
      const healthcheck = await run(hostArgv(image.healthcheck), { cwd: image.dir, env });
      expect(healthcheck.code, healthcheck.output).toBe(0);
      // The API listener answers on its own port; the ops paths are not there.
      expect((await fetch(`http://127.0.0.1:${apiPort}/healthz`)).status).toBe(404);

      worker.kill("SIGTERM");
      expect(await exited, logs).toEqual({ code: 0, signal: null });
      const messages = logs
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => (JSON.parse(line) as { msg?: string }).msg);
      expect(messages).toContain("watchdog started");
      expect(messages.at(-1)).toBe("shut down cleanly");

      // With the worker gone the same HEALTHCHECK turns red.
      const afterExit = await run(hostArgv(image.healthcheck), { cwd: image.dir, env });
      expect(afterExit.code).toBe(1);
    },
  );
});
