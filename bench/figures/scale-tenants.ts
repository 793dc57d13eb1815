// Scale figure "tenants": an authenticated request and the worker's start with 10,000 tenants in the
// database (API tokens and webhook endpoints) beside the same with 1. Two databases, migrated the
// same, one holding 10,000 organizations' tokens and endpoints, the other one organization's; a real
// worker on each (startWatchdog, in process) answers GET …/status with a token from the table,
// over keep-alive HTTP, the two interleaved per repetition; the p95 of each is compared. The start
// is the real `watchdog start` process, until its "watchdog started" line. With API_TOKENS instead,
// 10,000 tokens do not fit in one environment string (Linux: 128 KiB), which is logged.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import http from "node:http";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { tokenSha256 } from "../../src/api/api-tokens-store.js";
import { startWatchdog, type Watchdog } from "../../src/app.js";
import { MIGRATIONS_DIR } from "../../src/cli/paths.js";
import { loadConfig } from "../../src/platform/config/load-config.js";
import { migrate } from "../../src/platform/db/migrate.js";
import { createLogger } from "../../src/platform/logger.js";
import { createKeyring, generateWebhookSecret } from "../../src/outbox/webhook-secret-box.js";
import { buildRules } from "../../src/rules/rules.js";
import { infoFigure, median, quantile, ratioFigure, type Figure } from "../measure.js";
import { defineScaleFigure } from "../scale-figure.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const TENANTS = 10_000;
const RATIO_LIMIT = 1.5;
const SECRETS_KEY = randomBytes(32);

/** `tenants` organizations, each with one API token and one webhook endpoint; returns organization 1's token and task. */
async function seedTenants(databaseUrl: string, tenants: number): Promise<{ token: string; taskId: number }> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  try {
    await pool.query("TRUNCATE api_tokens, webhook_secrets, webhook_endpoints, task_events, task_assignments, tasks RESTART IDENTITY CASCADE");
    const tokens = Array.from({ length: tenants }, () => `wdt_${randomBytes(32).toString("base64url")}`);
    const keyring = createKeyring([SECRETS_KEY]);
    for (let from = 0; from < tenants; from += 1000) {
      const orgs = Array.from({ length: Math.min(1000, tenants - from) }, (_, i) => from + i + 1);
      await pool.query(`INSERT INTO api_tokens (organization_id, token_sha256, created_by) SELECT * FROM unnest($1::int[], $2::text[], $3::text[])`, [
        orgs,
        orgs.map((o) => tokenSha256(tokens[o - 1]!)),
        orgs.map(() => "bench"),
      ]);
      const { rows } = await pool.query<{ id: string; organization_id: number }>(
        `INSERT INTO webhook_endpoints (organization_id, url, created_by) SELECT o, 'https://hooks.example.com/org-' || o, 'bench' FROM unnest($1::int[]) o RETURNING id::text, organization_id`,
        [orgs],
      );
      const sealed = rows.map((r) => keyring.seal(generateWebhookSecret(), r.organization_id));
      await pool.query(`INSERT INTO webhook_secrets (endpoint_id, key_id, sealed_secret) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[])`, [
        rows.map((r) => r.id),
        sealed.map((s) => s.keyId),
        sealed.map((s) => s.sealed),
      ]);
    }
    const { rows } = await pool.query<{ id: number }>(
      `INSERT INTO tasks (organization_id, workspace_id, display_name, status, status_changed_at, original_payload) VALUES (1, 1, 'bench.pdf', 50, now(), '{}') RETURNING id`,
    );
    await pool.query("VACUUM ANALYZE api_tokens, webhook_endpoints, webhook_secrets, tasks");
    return { token: tokens[0]!, taskId: rows[0]!.id };
  } finally {
    await pool.end();
  }
}

function env(databaseUrl: string, redisUrl: string, prefix: string): Record<string, string> {
  return { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, QUEUE_PREFIX: prefix, API_PORT: "0", OPS_PORT: "0", LOG_LEVEL: "silent", SWEEP_SCHEDULE_ENABLED: "false", WEBHOOK_SECRETS_KEY: SECRETS_KEY.toString("base64") };
}

/** `count` sequential authenticated GETs over one keep-alive connection; their durations in ms. */
async function requests(apiUrl: string, path: string, token: string, count: number): Promise<number[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const times: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const started = performance.now();
      const status = await new Promise<number>((resolve, reject) => {
        http.get(`${apiUrl}${path}`, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        }).on("error", reject);
      });
      times.push(performance.now() - started);
      if (status !== 200) throw new Error(`GET ${path} answered ${status}, not 200: the token was not accepted`);
    }
  } finally {
    agent.destroy();
  }
  return times;
}

/** Milliseconds from spawning `watchdog start` to its "watchdog started" line; the process is then stopped. */
async function startupMs(environment: Record<string, string>): Promise<number> {
  const started = performance.now();
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "start"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...environment, LOG_LEVEL: "info" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    return await new Promise<number>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (c: Buffer) => {
        out += c.toString("utf8");
        if (out.includes('"msg":"watchdog started"')) resolve(performance.now() - started);
      });
      void exited.then(() => reject(new Error(`watchdog start exited before it started: ${stderr.slice(0, 400)} … ${stderr.slice(-300)}`)));
    });
  } finally {
    child.kill("SIGTERM");
    await exited;
  }
}

export default defineScaleFigure({
  covers: ["auth-p95"],
  title: `authenticated request and worker start: ${TENANTS.toLocaleString()} tenants in the database vs 1`,
  async run(ctx) {
    const oneUrl = new URL(ctx.databaseUrl);
    oneUrl.pathname = `${oneUrl.pathname}_one`;
    await migrate(oneUrl.toString(), MIGRATIONS_DIR);
    ctx.log(`seeding ${TENANTS.toLocaleString()} organizations' tokens and webhook endpoints, and 1 in a second database`);
    const many = await seedTenants(ctx.databaseUrl, TENANTS);
    const one = await seedTenants(oneUrl.toString(), 1);

    // API_TOKENS for as many organizations: the size Linux refuses for one environment string.
    const apiTokens = Array.from({ length: TENANTS }, (_, i) => `wdt_${randomBytes(32).toString("base64url")}:${i + 1}`).join(",");
    const e2big = await startupMs({ ...env(oneUrl.toString(), ctx.redisUrl, `${ctx.redisPrefix}-e2big`), API_TOKENS: apiTokens }).then(
      () => "started",
      (error: Error & { code?: string }) => error.code ?? error.message.slice(0, 80),
    );
    ctx.log(`API_TOKENS for ${TENANTS.toLocaleString()} organizations is ${Math.round(apiTokens.length / 1024)} KiB: watchdog start → ${e2big}`);

    const rules = buildRules();
    const logger = createLogger({ level: "silent" });
    const workers: Watchdog[] = [];
    try {
      const starts = { many: [] as number[], one: [] as number[] };
      for (let rep = 0; rep < Math.min(ctx.reps, 3); rep++) {
        const startMany = async () => starts.many.push(await startupMs(env(ctx.databaseUrl, ctx.redisUrl, `${ctx.redisPrefix}-start-many`)));
        const startOne = async () => starts.one.push(await startupMs(env(oneUrl.toString(), ctx.redisUrl, `${ctx.redisPrefix}-start-one`)));
        if (rep % 2 === 0) await startMany().then(startOne);
        else await startOne().then(startMany);
      }

      const count = ctx.quick ? 400 : 2000;
      const path = (taskId: number) => `/api/v1.0/external/sdtask/status?taskId=${taskId}`;
      /** p50 and p95 of authenticated requests to a worker on each database, interleaved per repetition. */
      const measureRequests = async (label: string) => {
        const start = async (url: string, suffix: string) => {
          const w = await startWatchdog(loadConfig(env(url, ctx.redisUrl, `${ctx.redisPrefix}-${label}-${suffix}`)), rules, logger);
          workers.push(w);
          return w;
        };
        const manyWorker = await start(ctx.databaseUrl, "many");
        const oneWorker = await start(oneUrl.toString(), "one");
        // Warm both (connections, plans), then interleave the two per repetition.
        await requests(manyWorker.apiUrl, path(many.taskId), many.token, 100);
        await requests(oneWorker.apiUrl, path(one.taskId), one.token, 100);
        const p95 = { many: [] as number[], one: [] as number[] };
        const p50 = { many: [] as number[], one: [] as number[] };
        for (let rep = 0; rep < ctx.reps; rep++) {
          // Alternate which goes first, so neither always runs on the warmer (or busier) moment.
          const ofMany = () => requests(manyWorker.apiUrl, path(many.taskId), many.token, count);
          const ofOne = () => requests(oneWorker.apiUrl, path(one.taskId), one.token, count);
          let m: number[];
          let o: number[];
          if (rep % 2 === 0) {
            m = await ofMany();
            o = await ofOne();
          } else {
            o = await ofOne();
            m = await ofMany();
          }
          p95.many.push(quantile(m, 0.95));
          p95.one.push(quantile(o, 0.95));
          p50.many.push(quantile(m, 0.5));
          p50.one.push(quantile(o, 0.5));
        }
        await Promise.all(workers.splice(0).map((w) => w.close()));
        return { p95, p50 };
      };
      // As deployed: the same process also relays to the 10,000 endpoints (the relay's idle cost shows here).
      const withEndpoints = await measureRequests("endpoints");
      // The authentication alone: the same tokens, no endpoints for the relay to serve.
      for (const url of [ctx.databaseUrl, oneUrl.toString()]) {
        const pool = new pg.Pool({ connectionString: url, max: 1 });
        await pool.query("TRUNCATE webhook_secrets, webhook_endpoints, outbox_cursors RESTART IDENTITY CASCADE");
        await pool.end();
      }
      const tokensOnly = await measureRequests("tokens");
      const N = TENANTS.toLocaleString();
      const figures: Figure[] = [
        ratioFigure(`authenticated GET …/status p95 (token from the table), ${N} tenants' tokens vs 1`, "ms", median(tokensOnly.p95.many), median(tokensOnly.p95.one), "atMost", RATIO_LIMIT),
        ratioFigure(`authenticated GET …/status p50, ${N} tenants' tokens vs 1`, "ms", median(tokensOnly.p50.many), median(tokensOnly.p50.one), "atMost", RATIO_LIMIT),
        infoFigure(`authenticated GET …/status p95, ${N} tenants' tokens and webhook endpoints (relayed by the same process) vs 1`, "ms", median(withEndpoints.p95.many), median(withEndpoints.p95.one)),
        ratioFigure(`worker start (watchdog start → "watchdog started"), ${N} tenants with tokens and webhook endpoints vs 1`, "ms", median(starts.many), median(starts.one), "atMost", RATIO_LIMIT),
      ];
      return figures;
    } finally {
      await Promise.all(workers.map((w) => w.close()));
      const admin = new URL(oneUrl.toString());
      const name = decodeURIComponent(admin.pathname.slice(1));
      admin.pathname = "/postgres";
      const client = new pg.Client({ connectionString: admin.toString() });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      await client.end();
    }
  },
});
