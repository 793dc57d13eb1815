// How one page of an organization's events goes out: up to `width` requests at once, in a sliding
// window over the page's order. An event starts only when
//  - it lies within AHEAD_WIDTHS × `width` events of the last position written: a kill re-sends at
//    most that many. The position is written in the background (group commit), so requests do not
//    wait for it unless the window is full; and
//  - the previous event of the same task has been delivered (one task's events, in order).
// The first failure stops new requests; those in flight finish. Pure apart from the callbacks.
export type SendOutcome = { ok: true } | { ok: false; reason: string };

/**
 * How far, in `width`s, requests may run ahead of the last position written: the requests in flight,
 * the answers that came while the running position write was under way, those that came while the
 * next one waited for it and ran, and one width for their callbacks waiting on a busy event loop.
 * At 2 (in flight, and one write) half of all requests waited for a position write; 4 delivers
 * 12 % more events per second on the benchmark when the CPU has room (the same when it has none:
 * docs/performance.md, 2026-12-06). The price: a kill -9 re-sends up to this many widths per
 * organization, which receivers drop by webhook-id.
 */
export const AHEAD_WIDTHS = 4;

export interface WindowCallbacks<Row> {
  send(row: Row): Promise<SendOutcome>;
  /** Records that rows[0 .. prefix) are delivered; resolves true once that position is written (not awaited by the sender). */
  commit(prefix: number): Promise<boolean>;
  /** True when the page must stop taking new events (shutdown, lease lost). */
  halted(): boolean;
}

export interface WindowResult {
  /** Rows delivered from the first, without a gap. */
  prefix: number;
  failure?: { index: number; reason: string };
}

export async function sendInWindow<Row extends { task_id: number }>(rows: readonly Row[], width: number, callbacks: WindowCallbacks<Row>): Promise<WindowResult> {
  const done = rows.map(() => false);
  const finished = rows.map(() => deferred());
  let prefix = 0;
  let committed = 0;
  let next = 0;
  let failure: { index: number; reason: string } | undefined;
  let uncommitted = false;
  let moved = deferred();
  const lastOfTask = new Map<number, number>();
  const previousOfTask = rows.map((row, index) => {
    const previous = lastOfTask.get(row.task_id);
    lastOfTask.set(row.task_id, index);
    return previous;
  });
  const stop = () => failure !== undefined || uncommitted || callbacks.halted();
  const budget = AHEAD_WIDTHS * width;
  const writes: Promise<void>[] = [];
  const signal = () => {
    const waiting = moved;
    moved = deferred();
    waiting.resolve();
  };

  const worker = async () => {
    while (!stop() && next < rows.length) {
      const index = next++;
      try {
        while (index >= committed + budget && !stop()) await moved.promise;
        const previous = previousOfTask[index];
        if (previous !== undefined) await finished[previous]!.promise;
        if (stop() || (previous !== undefined && !done[previous])) return;
        const outcome = await callbacks.send(rows[index]!);
        if (!outcome.ok) {
          if (!failure || index < failure.index) failure = { index, reason: outcome.reason };
          return;
        }
        done[index] = true;
        while (prefix < rows.length && done[prefix]) prefix += 1;
        const upTo = prefix;
        writes.push(
          callbacks.commit(upTo).then((ok) => {
            // A position that could not be written stops the page: the window cannot slide past it.
            if (ok) committed = Math.max(committed, upTo);
            else uncommitted = true;
            signal();
          }),
        );
      } finally {
        finished[index]!.resolve();
        signal();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, rows.length) }, worker));
  await Promise.all(writes);
  return failure ? { prefix, failure } : { prefix };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
