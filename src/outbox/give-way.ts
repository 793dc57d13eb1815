// The outbox gives way to this process's sweeps: a recovery keeps the CPU it has without webhooks
// (bench figure "webhooks and events queue on vs off"), and its events go out right after it. A
// sweep that lasts longer than MAX_DEFERRAL_MS does not silence the outbox: then it relays
// RELAY_WINDOW_MS out of every MAX_DEFERRAL_MS. Other replicas are not affected.
export const MAX_DEFERRAL_MS = 30_000;
const RELAY_WINDOW_MS = 5_000;

/** A function that says whether to give way now. */
export function giveWay(deferWhile: (() => boolean) | undefined): () => boolean {
  let since: number | undefined;
  return () => {
    if (!deferWhile?.()) {
      since = undefined;
      return false;
    }
    since ??= Date.now();
    return (Date.now() - since) % MAX_DEFERRAL_MS < MAX_DEFERRAL_MS - RELAY_WINDOW_MS;
  };
}
