// The bulk reprocess pacing loop: every replica runs one. A timer that never overlaps itself and
// never throws (it logs, counts and tries again next tick). Each tick, for every organization with
// a running bulk, one slice (applyBulkSlice): a few items in one transaction, within the
// organization's pace. Everything it needs is in PostgreSQL — the bulks, their items, the pace
// (counted from the items' processed_at) — so a replica killed mid-slice loses nothing (the slice
// rolls back) and any replica, or the same one restarted, carries on where it stopped.
//
// Ticks start TICK_MS apart while any bulk runs, IDLE_MS apart otherwise; nudge() makes the next
// tick come at once (this replica just accepted a bulk). A slice takes what the bulk's schedule has
// earned since the last one (about rate / 10 per tick: the pace spread over the second instead of a
// burst at its start), at most ceil(rate / 4): when slices run slower than a tick (a loaded
// database), the next one takes more, so the bulk still keeps its pace.
import type { Logger } from "pino";
import type { Db } from "../platform/db/client.js";
import { thresholdRows } from "../rules/resolve.js";
import type { Rule } from "../rules/rules.js";
import { applyBulkSlice, type SliceResult } from "./sql/apply-bulk-slice.js";
import { runningBulkOrganizations } from "./sql/running-bulk-organizations.js";

export const TICK_MS = 100;
export const IDLE_MS = 1000;

export interface BulkLoopOptions {
  db: Db;
  logger: Logger;
  rules: readonly Rule[];
  /** BULK_REPROCESS_RATE: items per organization per second. */
  ratePerSecond: number;
  /** Counts each slice by what it did (a metric). */
  onSlice?: (result: SliceResult["kind"] | "failed", items: number) => void;
}

export interface BulkLoop {
  /** Run the next tick now (a bulk was just accepted). */
  nudge(): void;
  /**
   * Stops the timer and waits for the slice in flight (it commits or rolls back), not for a read of
   * the running bulks: nothing of that is lost, and a frozen database would hold it until its client
   * timeout. No slice starts after. Safe to call twice.
   */
  close(): Promise<void>;
}

export const sliceSize = (ratePerSecond: number) => Math.max(1, Math.ceil(ratePerSecond / 4));

/**
 * Counts and logs each organization's slices. One line per distinct error, not one per tick of an
 * outage: the last error of each organization's slice (another organization's slice going well says
 * nothing of this one).
 */
function sliceReporter(options: Pick<BulkLoopOptions, "logger" | "onSlice">) {
  const errors = new Map<number, string>();
  return {
    /** An organization whose bulks ended (done, cancelled) while its slice failed is forgotten. */
    keepOnly(running: Set<number>) {
      for (const organizationId of errors.keys()) if (!running.has(organizationId)) errors.delete(organizationId);
    },
    applied(organizationId: number, result: Awaited<ReturnType<typeof applyBulkSlice>>) {
      options.onSlice?.(result.kind, result.kind === "processed" ? result.applied + result.refused + result.notFound : 0);
      if (result.kind === "processed" && result.done) options.logger.info({ bulkId: result.bulkId, organizationId }, "bulk reprocess done");
      if (result.kind === "cancelled") options.logger.info({ bulkId: result.bulkId, organizationId }, "bulk reprocess cancelled mid-slice; the slice was rolled back");
      if (errors.delete(organizationId)) options.logger.info({ organizationId }, "bulk reprocess loop recovered");
    },
    failed(organizationId: number, error: unknown) {
      options.onSlice?.("failed", 0);
      const text = (error as Error)?.message ?? String(error);
      if (errors.get(organizationId) !== text) options.logger.warn({ err: error, organizationId }, "bulk reprocess slice failed; nothing of it was applied, retrying next tick");
      errors.set(organizationId, text);
    },
  };
}

export function startBulkLoop(options: BulkLoopOptions): BulkLoop {
  const thresholds = thresholdRows(options.rules);
  const sliceMax = sliceSize(options.ratePerSecond);
  let stopping = false;
  let timer: NodeJS.Timeout | undefined;
  let tick: Promise<void> = Promise.resolve();
  /** The slice in flight, if any: what close() waits for. */
  let slice: Promise<unknown> | undefined;
  const slices = sliceReporter(options);
  let readError: string | undefined;

  const runTick = async (): Promise<boolean> => {
    const organizations = await runningBulkOrganizations(options.db);
    if (readError !== undefined) {
      readError = undefined;
      options.logger.info("bulk reprocess loop recovered");
    }
    slices.keepOnly(new Set(organizations));
    for (const organizationId of organizations) {
      if (stopping) break;
      try {
        slices.applied(organizationId, await (slice = applyBulkSlice(options.db, { organizationId, ratePerSecond: options.ratePerSecond, sliceMax, thresholds })));
      } catch (error) {
        slices.failed(organizationId, error);
      } finally {
        slice = undefined;
      }
    }
    return organizations.length > 0;
  };

  const schedule = (delayMs: number) => {
    if (stopping) return;
    clearTimeout(timer);
    timer = setTimeout(run, delayMs);
  };

  function run() {
    const startedAt = Date.now();
    tick = runTick().then(
      (busy) => schedule(Math.max(0, (busy ? TICK_MS : IDLE_MS) - (Date.now() - startedAt))),
      (error: unknown) => {
        if (stopping) return; // a read left behind by close(), ended with the pool
        const text = (error as Error)?.message ?? String(error);
        if (readError !== text) options.logger.warn({ err: error }, "bulk reprocess loop could not read the running bulks; retrying");
        readError = text;
        schedule(IDLE_MS);
      },
    );
  }

  schedule(0);
  let closed: Promise<void> | undefined;
  return {
    nudge() {
      // A tick in flight reschedules itself when it ends; otherwise start one now.
      void tick.then(() => schedule(0));
    },
    close() {
      closed ??= (async () => {
        stopping = true;
        clearTimeout(timer);
        await slice?.then(
          () => undefined,
          () => undefined,
        );
      })();
      return closed;
    },
  };
}
