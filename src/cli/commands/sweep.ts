import type { Config } from "../../platform/config/settings.js";
import type { Rule } from "../../rules/rules.js";
import { parseSweepJobData } from "../../sweep/sweep-request.js";
import { createSweepQueue, enqueueSweep, type SweepJobData } from "../../sweep/sweep-queue.js";
import { SWEEP_QUEUE } from "../../platform/queue-names.js";
import { CliError } from "../context.js";
import { EXIT } from "../exit-codes.js";
import { isoDuration } from "../../rules/duration.js";
import { NO_WORKER_HINT, submitJob } from "../submit-job.js";
import { createDb } from "../../platform/db/client.js";
import { releaseAction, releaseInputSchema } from "../../ops/actions.js";
import { parseOptions } from "./pause.js";
import { checkPostgres } from "../../platform/preflight.js";
import { MIGRATIONS_DIR } from "../paths.js";

export interface SweepCommandOptions {
  dryRun: boolean;
  wait: boolean;
  timeoutMs: number;
  /** Status names or codes whose held probes act anyway, this once. */
  release?: string[];
  by?: string;
  /** Why the held tasks may go (with --release; audited). */
  reason?: string;
}

/**
 * Enqueues a manual sweep; with `wait`, waits for a worker to run it and prints the result. The
 * job data is checked here with the worker's own rules, so a mistake is a usage error (exit 2)
 * and nothing is enqueued.
 */
export async function enqueueSweepCommand(config: Config, rules: readonly Rule[], options: SweepCommandOptions): Promise<void> {
  if (options.by !== undefined && options.release === undefined) throw new CliError("BadRequest: --by goes with --release (who checked the held tasks); give --release <status>", EXIT.usage);
  if (options.release !== undefined && options.by === undefined) throw new CliError("BadRequest: --release needs --by <name>: who checked the held tasks, for the audit trail", EXIT.usage);
  const data: SweepJobData = { dryRun: options.dryRun, ...(options.release ? { release: options.release, releasedBy: options.by } : {}) };
  const parsed = parseSweepJobData(data, rules);
  if (!parsed.ok) throw new CliError(parsed.error.replace(/\breleasedBy\b/g, "--by").replace(/\brelease(\[\d+\])?(?!\w)/g, "--release"), EXIT.usage);
  if (options.reason !== undefined && options.release === undefined) throw new CliError("BadRequest: --reason goes with --release (why the held tasks may go); give --release <status>", EXIT.usage);
  // A release is an operator action (src/ops/actions.ts, shared with the console): audited in operator_actions.
  const release = options.release ? parseOptions(releaseInputSchema(rules, "optional"), { release: options.release, by: options.by, reason: options.reason }) : undefined;
  if (release) await checkPostgres(config.databaseUrl, MIGRATIONS_DIR);
  const db = release ? createDb(config.databaseUrl, { max: 1, statementTimeoutMs: config.databaseStatementTimeoutMs, connectTimeoutMs: config.databaseConnectTimeoutMs }) : undefined;
  // submitJob stops waiting for the enqueue at its bound; the release goes on (its record committed
  // first, then taken back when its add fails as the connections close): the database is closed after it.
  let releasing: Promise<unknown> | undefined;
  const { job, outcome } = await submitJob(
    config,
    (redis) => createSweepQueue(redis, config.queuePrefix),
    async (queue) => {
      if (!(release && db)) return enqueueSweep(queue, data);
      const done = releaseAction(db, queue, release, "cli", { dryRun: options.dryRun, given: options.release });
      releasing = done.catch(() => undefined);
      return (await done).job;
    },
    options.wait ? options.timeoutMs : undefined,
  ).finally(async () => {
    await releasing;
    await db?.$disconnect();
  });
  switch (outcome.kind) {
    case "enqueued":
      return console.log(JSON.stringify({ enqueued: true, queue: SWEEP_QUEUE, jobId: job.id, dryRun: options.dryRun, ...(options.release ? { release: options.release, releasedBy: options.by } : {}) }));
    case "completed":
      return console.log(JSON.stringify(outcome.result, null, 2));
    case "timedOut":
      throw new CliError(`sweep job ${job.id} did not finish within ${isoDuration(options.timeoutMs / 1000)}: ${NO_WORKER_HINT}`);
    case "failed":
      // The worker refused the job data (its rules differ from this command's): a bad request, exit 2, as reprocess's.
      throw new CliError(`sweep job ${job.id} failed: ${outcome.message}`, outcome.message.startsWith("BadRequest:") ? EXIT.usage : EXIT.failed);
  }
}
