// The worker's database client: node-postgres' pool behind the small part of Prisma's client API
// the code uses ($queryRaw and $executeRaw as tagged templates or Prisma.sql fragments, their
// Unsafe forms, $transaction, $disconnect), with Prisma's value mapping (int8 as bigint).
//
// Why not PrismaClient at run time: every statement of the worker is hand-written SQL, so Prisma's
// query engine adds nothing but cost. Instantiating it (its query compiler is WebAssembly) takes
// ~50 MB of resident memory on the first query, a third of the worker's peak, and its driver-adapter
// round trip and transaction bookkeeping cost the reprocess path ~30 % of its throughput (bench,
// "reprocess, attribution" and "whole worker peak RSS"). Prisma stays the schema, the migration
// layout and the generated types; `Prisma.sql`, `Prisma.join`, `Prisma.raw` and `Prisma.empty`
// build the statements as before (they are sql-template-tag, which renders `$1` placeholders).
import { createHash } from "node:crypto";
import pg from "pg";
import type { Logger } from "pino";
import { settlesWithin, withTimeout } from "../deadline.js";

/**
 * No statement of the worker waits longer than this for a lock (a platform transaction left open,
 * DDL queued on a table): it fails instead, and the sweep's next interval or BullMQ's retry tries
 * again. Set per connection, so single statements need no transaction around them to carry it.
 */
export const LOCK_TIMEOUT_MS = 15_000;
/** DATABASE_STATEMENT_TIMEOUT's default: a sweep batch of 1,000 and a reprocess take milliseconds (docs/performance.md). */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 30_000;
/** DATABASE_CONNECT_TIMEOUT's default. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/**
 * How much longer than statement_timeout the client waits for an answer. The server cancels a slow
 * statement itself and says so (the clean failure); when the server cannot answer at all (frozen,
 * or a network path that eats packets, which TCP keep-alive alone does not notice for minutes),
 * the client gives up this much later and the pool discards the connection.
 */
export const CLIENT_TIMEOUT_MARGIN_MS = 2000;
/** An interactive transaction that runs longer than this is rolled back (Prisma's default, kept). */
const DEFAULT_TRANSACTION_TIMEOUT_MS = 5000;

export interface DbOptions {
  /** Pool size. */
  max?: number;
  /** statement_timeout and idle_in_transaction_session_timeout of every connection; the client's own timeout follows it. */
  statementTimeoutMs?: number;
  /** Opening a connection, and waiting for a free one of the pool, give up after this. */
  connectTimeoutMs?: number;
  /** Where pool and connection errors go (message and code only: never the connection string). */
  logger?: Logger;
}

/** A statement as Prisma.sql builds it (sql-template-tag): text with $n placeholders, and its values. */
export interface SqlFragment {
  readonly text: string;
  readonly values: readonly unknown[];
  /** Set by prepared(): the server-side prepared statement's name. */
  readonly name?: string;
}

type Run = (text: string, values: readonly unknown[], name?: string) => Promise<pg.QueryResult>;

const statementNames = new Map<string, string>();
/**
 * The statement as a named prepared statement: each connection parses and plans it once, then only
 * binds and executes it (node-postgres prepares a name on first use per connection). For the hot
 * statements whose planning costs more than their execution — the reprocess statement plans in
 * ~1.3 ms and runs in ~0.8 — and whose plan does not depend on the values (a task by id). Not for
 * statements whose plan should follow their values (the sweep's batches: PostgreSQL may switch a
 * prepared statement to a generic plan). Plain statements instead when DATABASE_URL says
 * `pgbouncer=true` (PgBouncer before 1.21 cannot carry prepared statements in transaction mode).
 */
export function prepared(sql: SqlFragment): SqlFragment {
  let name = statementNames.get(sql.text);
  if (name === undefined) {
    name = `wd_${createHash("sha256").update(sql.text).digest("hex").slice(0, 24)}`;
    // The hot statements are a handful of shapes; a bound keeps a mistake from growing without end.
    if (statementNames.size < 1000) statementNames.set(sql.text, name);
  }
  return { text: sql.text, values: sql.values, name };
}

/** DATABASE_URL without its `pgbouncer` parameter (node-postgres does not know it), and whether it asked for plain statements. */
export function pgbouncerMode(databaseUrl: string): { url: string; plainStatements: boolean } {
  if (!/[?&]pgbouncer=/.test(databaseUrl)) return { url: databaseUrl, plainStatements: false };
  const url = new URL(databaseUrl);
  const plainStatements = url.searchParams.get("pgbouncer") === "true";
  url.searchParams.delete("pgbouncer");
  return { url: url.toString(), plainStatements };
}

/**
 * A statement that runs when awaited, as Prisma's PrismaPromise does: `$transaction([a, b])` takes
 * statements not yet run and runs them, in order, in one transaction.
 */
export class Statement<T> implements Promise<T> {
  readonly [Symbol.toStringTag] = "Statement";
  #running: Promise<T> | undefined;
  constructor(
    readonly text: string,
    readonly values: readonly unknown[],
    private readonly run: Run,
    readonly shape: (result: pg.QueryResult) => T,
    readonly name?: string,
  ) {}
  /** Runs it over `run` (a transaction's connection) instead of its own. */
  on(run: Run): Promise<T> {
    return run(this.text, this.values, this.name).then(this.shape);
  }
  then<A = T, B = never>(onfulfilled?: ((value: T) => A | PromiseLike<A>) | null, onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<A | B> {
    this.#running ??= this.on(this.run);
    return this.#running.then(onfulfilled, onrejected);
  }
  catch<B = never>(onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<T | B> {
    return this.then(undefined, onrejected);
  }
  finally(onfinally?: (() => void) | null): Promise<T> {
    return this.then().finally(onfinally);
  }
}

/** The statements of the client and of a transaction. */
export interface Queries {
  $queryRaw<T = unknown>(query: TemplateStringsArray | SqlFragment, ...values: unknown[]): Statement<T>;
  $executeRaw(query: TemplateStringsArray | SqlFragment, ...values: unknown[]): Statement<number>;
  $queryRawUnsafe<T = unknown>(text: string, ...values: unknown[]): Statement<T>;
  $executeRawUnsafe(text: string, ...values: unknown[]): Statement<number>;
}

export interface TransactionOptions {
  /** Rolled back past this many ms (default 5000, as Prisma). */
  timeout?: number;
  /** Accepted for Prisma compatibility; waiting for a connection is bounded by DATABASE_CONNECT_TIMEOUT. */
  maxWait?: number;
  /**
   * statement_timeout of this transaction's statements in ms, at most the client's own (SET LOCAL,
   * sent with BEGIN in the same round trip). Transaction-scoped, so it holds behind PgBouncer in
   * transaction mode too, where the client's own start-up timeouts are dropped.
   */
  statementTimeoutMs?: number;
  /**
   * false: the commit does not wait for its WAL to reach the disk (SET LOCAL synchronous_commit = off,
   * in the same round trip as BEGIN): the transaction's row locks are not held through the flush.
   * A crash of the database may then undo it whole, never in part. Only for work that is redone when
   * undone, and whose effects leave the database only after a synchronous commit has flushed it
   * (the sweep's batches: docs/reliability.md, "Asynchronous commit").
   */
  synchronousCommit?: false;
}

export interface Db extends Queries {
  /** Statements not yet run (from this client), run in order in one transaction; their results. */
  $transaction<const P extends readonly Statement<unknown>[]>(statements: P): Promise<{ -readonly [K in keyof P]: Awaited<P[K]> }>;
  /** `fn` over one connection inside BEGIN … COMMIT (ROLLBACK when it throws or overruns `timeout`). */
  $transaction<R>(fn: (tx: Queries) => Promise<R>, options?: TransactionOptions): Promise<R>;
  $disconnect(): Promise<void>;
  /** The pool, for the few callers that speak node-postgres directly. */
  readonly pool: pg.Pool;
  /** statement_timeout of its connections (DbOptions.statementTimeoutMs): a transaction of several statements sizes its timeout by it. */
  readonly statementTimeoutMs: number;
}

// Prisma's mapping of raw results, kept so callers see the same values: int8 (count(*), bigint
// columns) as bigint, and interval as PostgreSQL's text rather than node-postgres' object.
const types = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    if (oid === 20) return (v: string) => BigInt(v);
    if (oid === 1016) return (v: string) => (pg.types.getTypeParser(1016 as Parameters<typeof pg.types.getTypeParser>[0], "text") as (s: string) => string[])(v).map((x) => (x === null ? x : BigInt(x)));
    if (oid === 1186) return (v: string) => v;
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

/** Flattens a tagged template (whose values may be Prisma.sql fragments) into text with $n placeholders. */
function fragment(query: TemplateStringsArray | SqlFragment, values: readonly unknown[]): SqlFragment {
  if (!Array.isArray(query)) return query as SqlFragment;
  const strings = query as TemplateStringsArray;
  let text = strings[0]!;
  const flat: unknown[] = [];
  const isFragment = (v: unknown): v is { strings: readonly string[]; values: readonly unknown[] } =>
    typeof v === "object" && v !== null && Array.isArray((v as { strings?: unknown }).strings) && Array.isArray((v as { values?: unknown }).values) && "text" in v;
  values.forEach((value, i) => {
    if (isFragment(value)) {
      text += value.strings[0];
      value.values.forEach((inner, j) => {
        flat.push(inner);
        text += `$${flat.length}${value.strings[j + 1]}`;
      });
    } else {
      flat.push(value);
      text += `$${flat.length}`;
    }
    text += strings[i + 1];
  });
  return { text, values: flat };
}

function queries(run: Run): Queries {
  const rows = <T>(r: pg.QueryResult) => r.rows as T;
  const count = (r: pg.QueryResult) => r.rowCount ?? 0;
  return {
    $queryRaw: <T>(query: TemplateStringsArray | SqlFragment, ...values: unknown[]) => {
      const f = fragment(query, values);
      return new Statement<T>(f.text, f.values, run, rows<T>, f.name);
    },
    $executeRaw: (query: TemplateStringsArray | SqlFragment, ...values: unknown[]) => {
      const f = fragment(query, values);
      return new Statement(f.text, f.values, run, count, f.name);
    },
    $queryRawUnsafe: <T>(text: string, ...values: unknown[]) => new Statement<T>(text, values, run, rows<T>),
    $executeRawUnsafe: (text: string, ...values: unknown[]) => new Statement(text, values, run, count),
  };
}

/**
 * A client over a pg pool in which nothing waits forever: the server cancels statements past
 * statement_timeout and ends sessions idle in a transaction that long (a worker that froze
 * mid-transaction releases its row locks), the client gives up CLIENT_TIMEOUT_MARGIN_MS later
 * when no answer comes, connecting and queueing for a connection are bounded, and TCP
 * keep-alive finds peers that vanished. Each failure fails the statement: BullMQ retries a
 * reprocess, the sweep's next interval tries again, /readyz answers not ready.
 */
export function createDb(databaseUrl: string, options: DbOptions = {}): Db {
  const statementTimeoutMs = options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
  const { url, plainStatements } = pgbouncerMode(databaseUrl);
  const config = (text: string, values: readonly unknown[], name: string | undefined): pg.QueryConfig =>
    name !== undefined && !plainStatements ? { name, text, values: values as unknown[] } : { text, values: values as unknown[] };
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 5,
    options: `-c lock_timeout=${LOCK_TIMEOUT_MS} -c statement_timeout=${statementTimeoutMs} -c idle_in_transaction_session_timeout=${statementTimeoutMs}`,
    query_timeout: statementTimeoutMs + CLIENT_TIMEOUT_MARGIN_MS,
    connectionTimeoutMillis: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    types,
  });
  // An idle connection that breaks (server restart, network) is dropped by the pool; say so once per error.
  pool.on("error", (error) => options.logger?.warn({ err: { message: error.message, code: (error as { code?: unknown }).code } }, "postgres pool error (idle connection)"));
  const run: Run = (text, values, name) => pool.query(config(text, values, name));

  async function transaction(work: (run: Run) => Promise<unknown>, timeoutMs: number, local: Pick<TransactionOptions, "statementTimeoutMs" | "synchronousCommit"> = {}): Promise<unknown> {
    const client = await pool.connect();
    let closed = false;
    // A connection that overran its transaction or failed to roll back is discarded, not reused.
    let discard = false;
    // A checked-out connection has no listener of the pool's: one lost mid-transaction (a terminated
    // backend, a network cut) would emit an 'error' nobody handles, and end the process. Its statement
    // in flight fails, and so does the next one: the transaction reports it; the connection is dropped.
    const lost = () => void (discard = true);
    client.on("error", lost);
    const onTx: Run = (text, values, name) => (closed ? Promise.reject(new Error("Transaction already closed: it ran past its timeout or has ended")) : client.query(config(text, values, name)));
    const timer = setTimeout(() => {
      closed = discard = true;
      client.query("ROLLBACK").catch(() => undefined);
    }, timeoutMs);
    try {
      // A transaction's own statement timeout only ever tightens the worker's.
      const timeout = local.statementTimeoutMs === undefined ? null : Math.max(1, Math.trunc(Math.min(local.statementTimeoutMs, statementTimeoutMs)));
      await client.query(
        ["BEGIN", ...(timeout === null ? [] : [`SET LOCAL statement_timeout = ${timeout}`]), ...(local.synchronousCommit === false ? ["SET LOCAL synchronous_commit = off"] : [])].join("; "),
      );
      const result = await work(onTx);
      if (closed) throw new Error(`Transaction rolled back: it ran past its timeout of ${timeoutMs} ms`);
      closed = true;
      await client.query("COMMIT");
      return result;
    } catch (error) {
      if (!closed) {
        closed = true;
        await client.query("ROLLBACK").catch(() => (discard = true));
      }
      throw error;
    } finally {
      clearTimeout(timer);
      client.off("error", lost);
      client.release(discard);
    }
  }

  return {
    ...queries(run),
    pool,
    statementTimeoutMs,
    $transaction: ((arg: readonly Statement<unknown>[] | ((tx: Queries) => Promise<unknown>), opts?: TransactionOptions) =>
      typeof arg === "function"
        ? transaction((onTx) => arg(queries(onTx)), opts?.timeout ?? DEFAULT_TRANSACTION_TIMEOUT_MS, opts)
        : transaction(async (onTx) => {
            const results: unknown[] = [];
            for (const statement of arg) results.push(await statement.on(onTx));
            return results;
          }, DEFAULT_TRANSACTION_TIMEOUT_MS)) as Db["$transaction"],
    $disconnect: async () => {
      if (!pool.ended) await pool.end();
    },
  };
}

/**
 * How long ending a pool waits for its connections to close by themselves. A frozen server (or a
 * network path that eats packets) never lets them: pool.end() waits for every connection checked out
 * by a statement in flight (until its client timeout, DATABASE_STATEMENT_TIMEOUT + 2 s) and for
 * every goodbye to be answered.
 */
export const POOL_END_TIMEOUT_MS = 1000;

/**
 * Ends `pool` within `ms`, then destroys the sockets still open: a statement still in flight on one
 * fails ("Connection terminated unexpectedly"). For the end of a shutdown, when nothing left needs
 * an answer (what did was drained or cut before). Rejects with a DeadlineError when even that does
 * not end the pool within POOL_END_TIMEOUT_MS more.
 */
export async function endPool(pool: pg.Pool, ms: number): Promise<void> {
  if (pool.ended) return;
  const ending = pool.end();
  if (await settlesWithin(ending, ms)) return ending;
  // pg-pool keeps every connection, checked out, idle or still connecting, in `_clients` (no public list).
  for (const client of (pool as unknown as { _clients: pg.Client[] })._clients) {
    // A connection cut under a statement also emits 'error' (its statement fails with it): heard here, not fatal.
    client.on("error", () => undefined);
    client.connection.stream.destroy();
  }
  await withTimeout(POOL_END_TIMEOUT_MS, "closing the PostgreSQL pool", ending);
}
