export const SWEEP_QUEUE = "task-watchdog";
export const SWEEP_JOB = "sweep";
export const SWEEP_SCHEDULER_ID = "task-watchdog-sweep";

export const REPROCESS_QUEUE = "task-reprocess";
export const REPROCESS_JOB = "reprocess";

/** Finished jobs are kept this long / this many, so Redis does not grow forever. */
export const KEEP_COMPLETED = { age: 24 * 3600, count: 1000 } as const;
export const KEEP_FAILED = { age: 7 * 24 * 3600, count: 5000 } as const;

/** Every task event, for the platform's own consumers (job id = the event's `evt_<id>`). */
export const EVENTS_QUEUE = "task-watchdog-events";
