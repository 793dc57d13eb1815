// How many tasks the next batch statement may take, and how long it may run. A batch is one
// transaction holding its rows' locks until it commits, and the platform's own writers queue behind
// those locks: the batch's time, not its count, is what a neighbour feels. So the size follows the
// time: a batch that runs past the budget (SWEEP_BATCH_TIME_BUDGET_MS) shrinks the next one in
// proportion, a batch well inside it grows the next one back towards SWEEP_BATCH_SIZE. And the
// budget is a bound, not only an aim: the size is chosen from past batches, and a batch can still be
// three times as slow as the last one (a checkpoint, a loaded CPU), so each batch runs with 90 % of
// the budget as its statement_timeout (`capMs`). One that would run past it is cancelled, nothing of it applied,
// and retried at a quarter of the size (River's maintenance services shrink their batches the same
// way after timeouts). A batch of the smallest size has no cap but the worker's statement timeout:
// the sweep always moves forward, however slow the database. One sizing lives as long as the
// worker, so what a loaded database taught one sweep holds for the next.

/** The smallest batch: below this, round trips cost more than any lock is worth. */
export const MIN_BATCH_SIZE = 10;
/**
 * The first batch of a worker: small, so that even the first lock hold stays inside the budget on
 * a database whose speed is not known yet; fast batches grow it to SWEEP_BATCH_SIZE within a
 * dozen batches (a slow start, as TCP's).
 */
export const FIRST_BATCH_SIZE = 100;
/**
 * A batch faster than this share of the budget lets the next one grow. A third, not a half: the
 * budget bounds the *longest* lock hold, and a batch now and then takes three times its usual
 * time (a checkpoint, autovacuum, a GC pause; the benchmark's worst of 500 batches was 110 ms with
 * usual batches near 35 ms), so usual batches must leave room for that.
 */
const GROW_BELOW = 0.3;
const GROWTH = 1.25;
/** Aim a little under the budget, so one noisy batch does not flip the size back and forth. */
const AIM = 0.8;
/**
 * A batch's statement is cancelled at this share of the budget: the rest is for BEGIN, the
 * cancellation's own delay and the COMMIT (or ROLLBACK) that releases its locks, inside the budget
 * too. 95 % left a cancelled batch 0.7 ms over a 100 ms budget in a full benchmark run (2026-12-07):
 * its BEGIN and ROLLBACK round trips and the cancel took ~6 ms.
 */
const CAP_SHARE = 0.9;

export interface BatchSizing {
  /** Tasks the next batch may take. */
  readonly size: number;
  /**
   * The next batch's statement_timeout in ms (SET LOCAL, in its own transaction), so that it holds
   * its locks no longer; null: no cap but the worker's statement timeout.
   */
  readonly capMs: number | null;
  /** The batch just committed took this long. */
  observe(durationMs: number): void;
  /** The batch was cancelled (by its cap or statement_timeout) after `durationMs`; false when already at the smallest size (give up). */
  timedOut(durationMs: number): boolean;
}

/** Fixed at `size`: what a caller without a time budget (the benchmark's bounds, a test) asks for. */
export function fixedBatchSize(size: number): BatchSizing {
  return { size, capMs: null, observe: () => undefined, timedOut: () => false };
}

export function adaptiveBatchSize(maxSize: number, budgetMs: number): BatchSizing {
  const min = Math.min(MIN_BATCH_SIZE, maxSize);
  let size = Math.min(maxSize, FIRST_BATCH_SIZE);
  return {
    get size() {
      return size;
    },
    get capMs() {
      return size > min ? Math.max(1, Math.floor(budgetMs * CAP_SHARE)) : null;
    },
    observe(durationMs) {
      if (durationMs > budgetMs) size = Math.max(min, Math.floor((size * budgetMs * AIM) / durationMs));
      else if (durationMs < budgetMs * GROW_BELOW) size = Math.min(maxSize, Math.max(size + 1, Math.floor(size * GROWTH)));
    },
    timedOut() {
      if (size <= min) return false;
      size = Math.max(min, Math.floor(size / 4));
      return true;
    },
  };
}
