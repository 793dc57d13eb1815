// A PgBouncer of the test's own (Debian's pgbouncer 1.18) in front of a test database, in
// transaction pooling as a platform of many replicas runs it: each transaction may land on a
// different server connection, so anything that relies on session state across statements fails
// through it. Started on a free port with its own ini file (auth_type trust towards 127.0.0.1),
// stopped by its PID; never a shared instance. PgBouncer refuses to run as root: as root it is
// started as `nobody` (setpriv).
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

export interface PgBouncer {
  /** The target database's URL with PgBouncer's host and port. */
  readonly url: string;
  readonly pid: number;
  /** Server connections PgBouncer opens to PostgreSQL for this database, at most. */
  readonly poolSize: number;
  /** From PgBouncer's admin console: transactions it has passed on for this database, and the server connections it holds now. */
  stats(): Promise<{ transactions: number; serverConnections: number; clientConnections: number }>;
  /** Stops it (SIGTERM, SIGKILL after 5 s) and removes its files. Safe to call twice. */
  stop(): Promise<void>;
}

const BINARY = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"].find((p) => existsSync(p)) ?? "pgbouncer";

/** A port free right now (the kernel's pick), for a child process to listen on. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * `roundRobin`: hand each transaction to the next server connection in turn instead of the last one
 * used, so that a dependence on session state across transactions fails at once rather than by chance.
 */
export async function startPgBouncer(databaseUrl: string, options: { poolSize?: number; roundRobin?: boolean } = {}): Promise<PgBouncer> {
  const target = new URL(databaseUrl);
  const database = decodeURIComponent(target.pathname.slice(1));
  const user = decodeURIComponent(target.username || "postgres");
  const poolSize = options.poolSize ?? 20;
  const dir = mkdtempSync(join(tmpdir(), "pgbouncer-"));
  chmodSync(dir, 0o755); // readable by `nobody`
  const port = await freePort();
  const ini = join(dir, "pgbouncer.ini");
  writeFileSync(join(dir, "users.txt"), `"${user}" ""\n`, { mode: 0o644 });
  writeFileSync(
    ini,
    [
      "[databases]",
      `${database} = host=${target.hostname} port=${target.port || "5432"} dbname=${database} user=${user}`,
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${port}`,
      "unix_socket_dir =",
      "auth_type = trust",
      `admin_users = ${user}`,
      `auth_file = ${join(dir, "users.txt")}`,
      "pool_mode = transaction",
      `default_pool_size = ${poolSize}`,
      "max_client_conn = 1000",
      // node-postgres sends `options` (the worker's -c timeouts) at start-up; PgBouncer cannot pass it
      // on per transaction, so it drops it, and the timeouts come from the database's own settings.
      "ignore_startup_parameters = extra_float_digits,options",
      "server_reset_query =",
      `server_round_robin = ${options.roundRobin ? 1 : 0}`,
      "",
    ].join("\n"),
    { mode: 0o644 },
  );
  const asRoot = process.getuid?.() === 0;
  const child: ChildProcess = asRoot
    ? spawn("setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", BINARY, ini], { stdio: ["ignore", "pipe", "pipe"] })
    : spawn(BINARY, [ini], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (c: Buffer) => (output += c.toString("utf8")));
  child.stderr!.on("data", (c: Buffer) => (output += c.toString("utf8")));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = new URL(databaseUrl);
  url.hostname = "127.0.0.1";
  url.port = String(port);
  // The worker's hot statements are prepared; PgBouncer 1.18 cannot carry them: plain statements.
  url.searchParams.set("pgbouncer", "true");

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const killer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(killer);
      }
      rmSync(dir, { recursive: true, force: true });
    })());

  // Up when it answers a query through to PostgreSQL.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`pgbouncer exited at start (code ${child.exitCode}): ${output.trim()} — is it installed? (apt-get install -y pgbouncer)`);
    }
    const client = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: 1000 });
    client.on("error", () => undefined);
    try {
      await client.connect();
      await client.query("SELECT 1");
      await client.end();
      break;
    } catch (error) {
      await client.end().catch(() => undefined);
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`pgbouncer did not answer on 127.0.0.1:${port} within 10 s (${(error as Error).message}): ${output.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const stats = async () => {
    const admin = new URL(url.toString());
    admin.pathname = "/pgbouncer";
    const client = new pg.Client({ connectionString: admin.toString() });
    client.on("error", () => undefined);
    await client.connect();
    try {
      // The admin console speaks the simple query protocol only: no parameters.
      const totals = (await client.query<{ database: string; total_xact_count: string }>("SHOW STATS")).rows.find((r) => r.database === database);
      const pools = (await client.query<{ database: string; cl_active: string; cl_waiting: string; sv_active: string; sv_idle: string; sv_used: string; sv_tested: string; sv_login: string }>("SHOW POOLS")).rows.filter((r) => r.database === database);
      const sum = (pick: (r: (typeof pools)[number]) => string[]) => pools.reduce((n, r) => n + pick(r).reduce((m, v) => m + Number(v), 0), 0);
      return {
        transactions: Number(totals?.total_xact_count ?? 0),
        serverConnections: sum((r) => [r.sv_active, r.sv_idle, r.sv_used, r.sv_tested, r.sv_login]),
        clientConnections: sum((r) => [r.cl_active, r.cl_waiting]),
      };
    } finally {
      await client.end();
    }
  };
  return { url: url.toString(), pid: child.pid!, poolSize, stats, stop };
}
