// The one timeout helper. Our Redis connections wait for a reconnect instead of failing (BullMQ
// needs that) and a TCP peer may never answer, so anything that must answer a caller, start, or
// shut down bounds its wait with one of these.
import type { EventEmitter } from "node:events";

/** The work did not settle in time. Its message names what was waited for and the bound. */
export class DeadlineError extends Error {
  override readonly name = "DeadlineError";
  constructor(what: string, ms: number) {
    super(`${what}: no answer within ${ms} ms`);
  }
}

/** `work`, or a DeadlineError after `ms` (the work itself is not cancelled). */
export async function withTimeout<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new DeadlineError(what, ms)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** True when `work` settled (resolved or rejected) within `ms`, false when the time ran out. */
export async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  return withTimeout(
    ms,
    "work",
    work.then(() => true, () => true),
  ).catch(() => false);
}

/** True when `emitter` emits `event` within `ms` (or `already` says it happened), false past `ms`. */
export function emitsWithin(emitter: EventEmitter, event: string, ms: number, already = false): Promise<boolean> {
  if (already) return Promise.resolve(true);
  let listener: (() => void) | undefined;
  const emitted = new Promise<void>((resolve) => emitter.once(event, (listener = resolve)));
  return settlesWithin(emitted, ms).finally(() => emitter.off(event, listener!));
}
