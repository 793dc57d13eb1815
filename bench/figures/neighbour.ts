// Neighbour cost: the watchdog must not slow the platform it guards. The platform's own write —
// one task's status, by id, one statement on a connection of its own, from a process of its own
// (bench/platform-client-child.mjs) — timed while idle and while runSweep recovers 100,000 stuck
// tasks on the same table; and the longest time one batch holds its row locks. The platform runs in
// its own process as it does in production, so the sweep's JavaScript cannot show up in its timings
// as waits of an event loop they share (measured side by side on 2026-12-06, the two gave the same
// percentiles, quiet and loaded: the delay is the machine's). A batch is one statement in a
// transaction of its own (its time cap is the transaction's statement_timeout): its locks are taken
// inside it and released at its commit, so the time runSweep measures around each batch (BEGIN to
// COMMIT, cancelled batches included) bounds how long any row stays locked.
import { spawn } from "node:child_process";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import type pg from "pg";
import type { Db } from "../../src/platform/db/client.js";
import type { Rule } from "../../src/rules/rules.js";
import { runSweep } from "../../src/sweep/run-sweep.js";
import { stage } from "../incident.js";
import { sample, type Sample } from "../measure.js";
import { adaptiveBatchSize, type BatchSizing } from "../../src/sweep/batch-size.js";
import { SETTINGS } from "../../src/platform/config/settings.js";

const BATCH_TIME_BUDGET_MS = Number(SETTINGS.sweepBatchTimeBudgetMs.default);

const PLATFORM_ROWS = 2_000;

export interface NeighbourFigures {
  idle: { p50: Sample; p99: Sample };
  recovery: { p50: Sample; p99: Sample };
  /** The longest batch statement of the recoveries, in ms. */
  longestBatchMs: number;
  /** Batches of the recoveries that committed, and those cancelled at their time cap (and retried smaller). */
  batches: { committed: number; cancelled: number };
  /** That time cap (a batch's statement_timeout), in ms. */
  capMs: number | null;
  updatesDuringRecovery: number;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** The platform's client process: `run(n)` times n updates; `start()`…`stop()` times updates until stopped. */
interface PlatformClient {
  run(count: number): Promise<number[]>;
  start(): Promise<void>;
  stop(): Promise<number[]>;
  close(): Promise<void>;
}

async function startPlatformClient(databaseUrl: string, ids: readonly number[]): Promise<PlatformClient> {
  const child = spawn(process.execPath, [fileURLToPath(new URL("../platform-client-child.mjs", import.meta.url)), databaseUrl, ids.join(",")], { stdio: ["pipe", "pipe", "inherit"] });
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  const lines = readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const ask = async (command: object): Promise<{ latencies?: number[] }> => {
    child.stdin!.write(`${JSON.stringify(command)}\n`);
    const line = await Promise.race([lines.next(), exited.then((code) => ({ done: true, value: `the platform client exited (${code})` }))]);
    if (line.done) throw new Error(String(line.value));
    return JSON.parse(line.value as string);
  };
  return {
    run: async (count) => (await ask({ run: count })).latencies!,
    start: async () => void (await ask({ start: true })),
    stop: async () => (await ask({ stop: true })).latencies!,
    close: async () => {
      child.stdin!.end();
      await exited;
    },
  };
}

/** `sizing`, telling `seen` the time of every batch statement: each one that committed and each one cancelled. */
function timed(sizing: BatchSizing, seen: (ms: number, cancelled: boolean) => void): BatchSizing {
  return {
    get size() {
      return sizing.size;
    },
    get capMs() {
      return sizing.capMs;
    },
    observe: (ms) => (seen(ms, false), sizing.observe(ms)),
    timedOut: (ms) => (seen(ms, true), sizing.timedOut(ms)),
  };
}

export async function measureNeighbour(
  db: Db,
  pool: pg.Pool,
  databaseUrl: string,
  rules: readonly Rule[],
  ids: { from: number; to: number },
  options: { reps: number; batchSize: number },
): Promise<NeighbourFigures> {
  const { rows } = await pool.query<{ id: number }>(`SELECT id FROM tasks WHERE location = 'INBOX' AND status = 50 AND id < $1 ORDER BY id LIMIT $2`, [ids.from, PLATFORM_ROWS]);
  const targets = rows.map((r) => r.id);
  const platform = await startPlatformClient(databaseUrl, targets);
  const runs = { idle: { p50: [] as number[], p99: [] as number[] }, recovery: { p50: [] as number[], p99: [] as number[] } };
  let longestBatchMs = 0;
  const batches = { committed: 0, cancelled: 0 };
  let updatesDuringRecovery = 0;
  try {
    const summarise = (side: "idle" | "recovery", latencies: number[]) => {
      const sorted = [...latencies].sort((a, b) => a - b);
      runs[side].p50.push(percentile(sorted, 50));
      runs[side].p99.push(percentile(sorted, 99));
    };
    await platform.run(200); // warm
    for (let r = 0; r < options.reps; r++) {
      summarise("idle", await platform.run(PLATFORM_ROWS));

      await stage(pool, "processingInProgress", ids.from, ids.to);
      await platform.start();
      const result = await runSweep(db, rules, {
        sweepId: `bench-neighbour-${r}`,
        dryRun: false,
        batchSize: options.batchSize,
        // As the worker runs it: batches sized (and capped) by time (SWEEP_BATCH_TIME_BUDGET_MS' default),
        // from a fresh start; every batch's time as runSweep measured it, cancelled ones included.
        batchSizing: timed(adaptiveBatchSize(options.batchSize, BATCH_TIME_BUDGET_MS), (ms, cancelled) => {
          longestBatchMs = Math.max(longestBatchMs, ms);
          batches[cancelled ? "cancelled" : "committed"]++;
        }),
      }).finally(async () => {
        const during = await platform.stop();
        updatesDuringRecovery += during.length;
        summarise("recovery", during);
      });
      if (result.reverted !== ids.to - ids.from + 1) throw new Error(`the neighbour run reverted ${result.reverted} tasks`);
    }
  } finally {
    await pool.query(`UPDATE tasks SET status = 50 WHERE id = ANY($1::int[]) AND status = 33`, [targets]).catch(() => undefined);
    await platform.close();
  }
  return {
    idle: { p50: sample(runs.idle.p50), p99: sample(runs.idle.p99) },
    recovery: { p50: sample(runs.recovery.p50), p99: sample(runs.recovery.p99) },
    longestBatchMs,
    batches,
    capMs: adaptiveBatchSize(options.batchSize, BATCH_TIME_BUDGET_MS).capMs,
    updatesDuringRecovery: Math.round(updatesDuringRecovery / options.reps),
  };
}
