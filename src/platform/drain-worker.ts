// A BullMQ worker whose shutdown cannot hang. BullMQ's graceful Worker.close() first ends the
// blocking connection and waits for its `end` event; a connection between reconnect attempts (Redis
// cut, restarting, or never reached) does not emit one on ioredis ≤ 6.0, and one mid-handshake waits
// for BullMQ's own BZPOPMIN deadline (6–11 s): a close during a Redis outage waited for ever or past
// its budget (taskforcesh/bullmq#4656, #2430; redis/ioredis#1247). So the steps are ours:
//   1. stopFetching(): no new fetch (pause), and the fetch blocked in BZPOPMIN is dropped at once
//      (its connection disconnected without waiting for anything), so no job arriving during the
//      drain is taken;
//   2. drain(ms): wait, bounded, for the jobs in flight — processed AND recorded in Redis as
//      completed or failed (during an outage the record waits for Redis to return);
//   3. close(true): BullMQ's force path, which waits on no connection. A job not recorded by then
//      stays active in Redis and its lock expires: BullMQ's stalled-job check gives it to another
//      replica (or to this one after a restart), as after a crash.
// And once it has stopped fetching, the blocking connection is never brought back: BullMQ's recovery
// of a BZPOPMIN that outlived its watchdog (resetBlockedConnection → reconnectBlocking) does not look
// whether the worker has closed since. After a Redis cut it reconnected 30–100 ms after the shutdown
// had ended, and that connection kept the process alive to the SHUTDOWN_TIMEOUT backstop (exit 124).
import { Worker, type Job } from "bullmq";
import { onShutdown, type Context } from "./component.js";
import { ShutdownForced, type ShutdownBudget } from "./deadline.js";

/** How often a drain looks whether the jobs in flight are done. */
const DRAIN_POLL_MS = 25;
/**
 * A fetch (moveToActive, one short script) in flight longer than this is waited on no more: Redis
 * answers it in milliseconds when it answers at all, and one frozen (its connection still says ready)
 * held the drain to the deadline with no job in flight (exit 124). A job such a fetch takes later is
 * the stalled-job check's, as after a crash.
 */
export const FETCH_WAIT_MS = 1000;

// BullMQ's own generics, kept as loose as its Worker's defaults.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export class DrainableWorker<DataType = any, ResultType = any, NameType extends string = string> extends Worker<DataType, ResultType, NameType> {
  /** Jobs taken (moved to active) and not yet recorded as completed or failed by this worker. */
  readonly #inFlight = new Set<string>();
  /** moveToActive calls in flight, by when each began: each may hand this worker a job. */
  readonly #fetching = new Set<{ since: number }>();
  /** Ends BullMQ's retry waits (runRetryDelay, 15 s) at the force close: its own only ends some of them. */
  readonly #closed = new AbortController();
  /** Set by stopFetching: the blocking connection is not needed again, and not reconnected. */
  #stopped = false;

  // Called from BullMQ's constructor: the wrapper reads #stopped only when called, after it.
  protected override createBackend(): void {
    super.createBackend();
    const reconnectBlocking = this.backend.reconnectBlocking.bind(this.backend);
    this.backend.reconnectBlocking = () => (this.#stopped ? Promise.resolve() : reconnectBlocking());
  }

  override delay(ms?: number, abortController?: Parameters<Worker["delay"]>[1]): Promise<void> {
    return new Promise((resolve) => {
      const signals = [abortController?.signal as AbortSignal | undefined, this.#closed.signal].filter((s): s is AbortSignal => s !== undefined);
      const done = () => {
        clearTimeout(timer);
        for (const signal of signals) signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms || 1);
      for (const signal of signals) signal.addEventListener("abort", done, { once: true });
      if (signals.some((s) => s.aborted)) done();
    });
  }

  override emit(event: string | symbol, ...args: unknown[]): boolean {
    // "active" is emitted as the job is taken, before the main loop hands it to processJob: counting
    // from here leaves no instant in which a taken job is not counted.
    if (event === "active") this.#inFlight.add(String((args[0] as Job).id));
    return (super.emit as (event: string | symbol, ...args: unknown[]) => boolean).call(this, event, ...args);
  }

  override async processJob(job: Job<DataType, ResultType, NameType>, token: string, fetchNextCallback?: () => boolean): Promise<void | Job<DataType, ResultType, NameType>> {
    this.#inFlight.add(String(job.id));
    try {
      return await super.processJob(job, token, fetchNextCallback);
    } finally {
      this.#inFlight.delete(String(job.id));
    }
  }

  protected override async moveToActive(token: string, name?: string): Promise<Job<DataType, ResultType, NameType>> {
    const fetch = { since: Date.now() };
    this.#fetching.add(fetch);
    try {
      return await super.moveToActive(token, name);
    } finally {
      this.#fetching.delete(fetch);
    }
  }

  /** Jobs in flight right now (taken and not yet recorded). */
  get jobsInFlight(): number {
    return this.#inFlight.size;
  }

  /** Takes no new job from now on. Returns at once: it waits on no connection. */
  async stopFetching(): Promise<void> {
    this.#stopped = true;
    await this.pause(true);
    // Drops the BZPOPMIN in flight. Not awaited: on a connection that never became ready the
    // backend would wait for it first.
    void this.backend.disconnectBlocking(false).catch(() => undefined);
  }

  /**
   * True when every job in flight was recorded within `ms`; false when time ran out first. A fetch
   * (moveToActive) still in flight counts while the worker's connection is up and for FETCH_WAIT_MS:
   * the job it takes must be processed, not dropped. On a connection that is not up, or past that
   * time (a frozen Redis), it is left: a command not yet sent is failed by the disconnect, and a job a
   * reply not yet come takes is the stalled-job check's either way.
   */
  async drain(ms: number): Promise<boolean> {
    const deadline = Date.now() + Math.max(0, ms);
    const connected = () => (this.opts.connection as { status?: string }).status === "ready";
    const awaited = () => [...this.#fetching].some((f) => Date.now() - f.since < FETCH_WAIT_MS);
    const idle = () => this.#inFlight.size === 0 && (!awaited() || !connected());
    while (!idle()) {
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, Math.min(DRAIN_POLL_MS, Math.max(1, deadline - Date.now()))));
    }
    return true;
  }

  /**
   * stopFetching, drain within `drainMs`, then BullMQ's force close. Resolves with whether the
   * drain finished (false: jobs were left to the stalled-job check). Waits on no connection.
   */
  async shutdown(drainMs: number): Promise<{ drained: boolean; leftInFlight: number }> {
    await this.stopFetching();
    const drained = await this.drain(drainMs);
    const leftInFlight = this.#inFlight.size;
    const closing = this.close(true);
    // After close() has marked the worker closing: a wait ended now retries nothing.
    this.#closed.abort();
    await closing;
    return { drained, leftInFlight };
  }
}

/**
 * A worker's part in the one shutdown: it stops fetching the moment shutdown begins (together with
 * every other worker: a sweep taken while another worker drains would stop at once and count as
 * done), and its close drains within what is left of the budget, then force-closes. Rejects with
 * ShutdownForced when jobs were still in flight at the deadline.
 */
export function shutdownWorker(ctx: Pick<Context, "shutdown">, worker: DrainableWorker): (budget: ShutdownBudget) => Promise<void> {
  onShutdown(ctx, () => worker.stopFetching());
  return async (budget) => {
    const { drained, leftInFlight } = await worker.shutdown(budget.drainRemainingMs());
    if (!drained) throw new ShutdownForced(`worker ${worker.name}: ${leftInFlight} job(s) still in flight at the shutdown deadline, left to BullMQ's stalled-job check (another replica or the next start takes them up)`);
  };
}
