/**
 * `load` coalesced: callers while a load is in flight share it (single flight), and its settled
 * result serves the callers of the next `ttlMs` too. However many probes or scrapes arrive, at most
 * one load runs at a time; a load that never settles (a frozen dependency) is never started again
 * beside itself — callers bound their own wait (withTimeout) and report the dependency as down.
 * A failure is kept for the TTL as well, so a flood against a failing dependency costs no more.
 */
export function coalesced<T>(ttlMs: number, load: () => Promise<T>): (() => Promise<T>) & { invalidate(): void } {
  let inFlight: Promise<T> | undefined;
  let settled: { at: number; value: Promise<T> } | undefined;
  const get = (): Promise<T> => {
    if (inFlight) return inFlight;
    if (settled && performance.now() - settled.at <= ttlMs) return settled.value;
    const value = Promise.resolve().then(load);
    inFlight = value;
    const done = () => {
      if (inFlight !== value) return;
      inFlight = undefined;
      settled = { at: performance.now(), value };
    };
    value.then(done, done);
    return value;
  };
  return Object.assign(get, {
    invalidate: () => {
      settled = undefined;
    },
  });
}

/**
 * `run` one at a time: a wake while it runs asks for one more run right after it (however many
 * wakes came), so no wake is lost and no two runs overlap. No run starts once `stopped`.
 */
export function wakeable(run: () => Promise<void>, stopped: () => boolean): { wake(): void; running(): Promise<void> | undefined } {
  let running: Promise<void> | undefined;
  let again = false;
  const wake = () => {
    if (stopped()) return;
    if (running) {
      again = true;
      return;
    }
    running = run().finally(() => {
      running = undefined;
      if (again) {
        again = false;
        wake();
      }
    });
  };
  return { wake, running: () => running };
}
