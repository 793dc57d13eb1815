/**
 * The exit codes of every `watchdog` command (docs/cli.md): scripts branch on them.
 * 4 is reserved for a refusal by the reprocess guard (a message starting `Conflict:`).
 */
export const EXIT = {
  ok: 0,
  /** The command ran and failed: a job failed or timed out, a service was unreachable, the configuration is invalid. */
  failed: 1,
  /** The request cannot succeed as given: an unknown option, a bad argument, job data refused with `BadRequest:`. */
  usage: 2,
  /** No such task (`NotFound:`). */
  notFound: 3,
  /** Refused by a guard (`Conflict:`). */
  conflict: 4,
  /** `start` only: the shutdown was cut at SHUTDOWN_TIMEOUT; jobs in flight were left to BullMQ's stalled-job check (nothing lost, not clean). */
  shutdownForced: 124,
  /** `start` only: a second signal, more than a moment after the first, forced the exit at once. */
  secondSignal: 130,
} as const;
