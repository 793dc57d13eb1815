// What every feature gets (the context) and gives back (a component). The composition root
// (src/app.ts) starts the components in order and closes them in reverse, each within a deadline.
import type { Logger } from "pino";
import type { Config } from "./config/settings.js";
import type { Rule } from "../rules/rules.js";
import { createDb, endPool, POOL_END_TIMEOUT_MS, type Db } from "./db/client.js";
import { warnWhenTimeoutsAreOff } from "./db/session-timeouts.js";
import { redisFactory, type RedisFactory } from "./redis.js";
import { DeadlineError, ShutdownForced, withTimeout, type ShutdownBudget } from "./deadline.js";

export interface Context {
  readonly config: Config;
  readonly rules: readonly Rule[];
  readonly logger: Logger;
  readonly db: Db;
  /** Every Redis connection comes from here, one per worker, queue or client. */
  readonly redis: RedisFactory;
  /** Aborted when shutdown begins: every worker stops taking jobs at that moment, together. */
  readonly shutdown: AbortSignal;
  /** Sweeps of this process in progress: the outbox relay and the webhook deliveries give way to them. */
  readonly sweeps: ActivityCount;
}

/**
 * A started feature: `close` is called once, in reverse start order, with what is left of the one
 * shutdown budget (and cut off when that runs out). It rejects with ShutdownForced when it had to
 * cut work in flight to fit.
 */
export interface Component {
  readonly name: string;
  close(budget: ShutdownBudget): Promise<void>;
}

export interface ActivityCount {
  begin(): void;
  end(): void;
  active(): boolean;
  /** Calls `listener` each time the last activity ends. Out: a function that stops it. */
  onIdle(listener: () => void): () => void;
}

export function activityCount(): ActivityCount {
  let n = 0;
  const listeners = new Set<() => void>();
  return {
    begin: () => void (n += 1),
    end: () => {
      if (n === 0) return;
      n -= 1;
      if (n === 0) for (const listener of listeners) listener();
    },
    active: () => n > 0,
    onIdle: (listener) => {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
}

/** The database and the Redis factory: the last component to close. */
export function startPlatform(config: Config, rules: readonly Rule[], logger: Logger, shutdown: AbortSignal): Component & { context: Context } {
  // Each reprocess in flight holds a connection for its transaction; the sweep and health checks need a few more.
  const db = createDb(config.databaseUrl, {
    max: config.databasePoolSize ?? config.reprocessConcurrency + 5,
    statementTimeoutMs: config.databaseStatementTimeoutMs,
    connectTimeoutMs: config.databaseConnectTimeoutMs,
    logger,
  });
  const redis = redisFactory(config, logger);
  void warnWhenTimeoutsAreOff(db, logger); // not awaited: a frozen database must not hold up the start
  return {
    name: "platform",
    context: { config, rules, logger, db, redis, shutdown, sweeps: activityCount() },
    close: (budget) => closeSteps([["redis", () => redis.close(budget.remainingMs())], ["postgres", () => endPool(db.pool, Math.min(budget.remainingMs(), POOL_END_TIMEOUT_MS))]]),
  };
}

/**
 * Runs every step in order, each guarded: a failing step does not skip the rest. Rejects at the
 * end naming the steps that failed: with ShutdownForced when one of them was cut at the deadline.
 */
export async function closeSteps(steps: readonly (readonly [string, () => Promise<unknown> | unknown])[]): Promise<void> {
  const failed: { step: string; error: unknown }[] = [];
  for (const [step, run] of steps) {
    try {
      await run();
    } catch (error) {
      failed.push({ step, error });
    }
  }
  if (failed.length > 0) {
    const message = `${failed.map((f) => f.step).join(", ")} failed to close: ${failed.map((f) => (f.error instanceof Error ? f.error.message : String(f.error))).join("; ")}`;
    if (failed.some((f) => isForced(f.error))) throw new ShutdownForced(message, { cause: new AggregateError(failed.map((f) => f.error)) });
    throw new AggregateError(
      failed.map((f) => f.error),
      message,
    );
  }
}

const isForced = (error: unknown) => error instanceof ShutdownForced || error instanceof DeadlineError;

/**
 * What a shutdown came to. `failed`: components whose close failed (each logged); `forced`:
 * components cut at the deadline, work in flight left to BullMQ's stalled-job check. Both empty:
 * a clean shutdown.
 */
export interface ShutdownOutcome {
  readonly failed: string[];
  readonly forced: string[];
}

/**
 * Closes `components` in reverse order within ONE budget: each gets what is left of it. A component
 * still closing when the budget runs out is left (its connections are ended by the platform, last)
 * and counted as forced, so the shutdown as a whole always ends inside SHUTDOWN_TIMEOUT.
 */
export async function closeInReverse(components: Component[], budget: ShutdownBudget, logger: Logger): Promise<ShutdownOutcome> {
  const outcome: ShutdownOutcome = { failed: [], forced: [] };
  for (const component of components.splice(0).reverse()) {
    try {
      await withTimeout(budget.remainingMs(), `closing ${component.name}`, component.close(budget));
    } catch (error) {
      if (isForced(error)) {
        outcome.forced.push(component.name);
        logger.warn({ err: error, step: component.name }, "shutdown step cut at the deadline");
      } else {
        outcome.failed.push(component.name);
        logger.warn({ err: error, step: component.name }, "shutdown step failed");
      }
    }
  }
  return outcome;
}

/**
 * Starts `stop` when shutdown begins (every worker stops taking jobs at that moment, together: a
 * sweep taken while another worker drains would stop at once and count as done), or when the
 * component is closed first; the returned function waits for it.
 */
export function onShutdown(ctx: Pick<Context, "shutdown">, stop: () => Promise<void>): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  const begin = () => (stopping ??= stop());
  if (ctx.shutdown.aborted) void begin().catch(() => undefined);
  else ctx.shutdown.addEventListener("abort", () => void begin().catch(() => undefined), { once: true });
  return begin;
}
