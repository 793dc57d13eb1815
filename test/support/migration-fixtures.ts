// What the migration runner's tests share: a fresh database each (dropped after the file), a
// migrations folder written from a map, connections closed after each test, and the state of an
// index. Each file calls migrationFixtures() once, with a prefix of its own for its databases.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, afterEach, inject } from "vitest";

export function migrationFixtures(prefix: string) {
  const adminUrl = inject("adminDatabaseUrl");
  const created: string[] = [];
  const clients: pg.Client[] = [];

  /** The URL of a database of this test's own (created by the runner, dropped after the file). */
  function freshDatabaseUrl(): string {
    const name = `${prefix}_${randomBytes(4).toString("hex")}`;
    created.push(name);
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    return url.toString();
  }

  /** A migrations folder holding these migrations, named in order. */
  function migrations(files: Record<string, string>): string {
    const dir = join(mkdtempSync(join(tmpdir(), `${prefix}-`)), "migrations");
    for (const [name, sql] of Object.entries(files)) {
      mkdirSync(join(dir, name), { recursive: true });
      writeFileSync(join(dir, name, "migration.sql"), sql);
    }
    return dir;
  }

  /** A connection closed after the test. */
  async function connect(url: string): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: url });
    client.on("error", () => undefined);
    await client.connect();
    clients.push(client);
    return client;
  }

  /** One statement on a connection of its own. */
  async function one<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
    const client = await connect(url);
    try {
      return (await client.query<T>(sql)).rows;
    } finally {
      await client.end();
      clients.splice(clients.indexOf(client), 1);
    }
  }

  /** Another writer caught mid-transaction: it has run `insert` and not committed. */
  async function openWriter(url: string, insert: string): Promise<{ commit: () => Promise<void> }> {
    const client = await connect(url);
    await client.query("BEGIN");
    await client.query(insert);
    return { commit: async () => void (await client.query("COMMIT")) };
  }

  /** Polls `check` until it holds (a state another connection reaches), failing after `timeoutMs`. */
  async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Sessions of the database waiting for a lock (a migration queued behind an open transaction). */
  const lockWaiters = async (url: string) =>
    (await one<{ n: number }>(url, `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`))[0]!.n;

  const indexState = (url: string, name: string) =>
    one<{ valid: boolean }>(url, `SELECT i.indisvalid AS valid FROM pg_index i WHERE i.indexrelid = to_regclass('${name}')`).then((r) => (r[0] ? (r[0].valid ? "valid" : "INVALID") : "absent"));

  afterEach(async () => {
    for (const c of clients.splice(0)) await c.end().catch(() => undefined);
  });
  afterAll(async () => {
    for (const name of created) await one(adminUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  });

  return { adminUrl, freshDatabaseUrl, migrations, connect, one, openWriter, until, lockWaiters, indexState };
}
