import { userInfo } from "node:os";
import type { Config } from "../../platform/config/settings.js";
import { createDb } from "../../platform/db/client.js";
import { findTask } from "../../reprocess/sql/find-task.js";
import { decideReprocess, guardThresholdSeconds } from "../../reprocess/reprocess-guard.js";
import { describeTarget, parseReprocessRequest } from "../../reprocess/reprocess-request.js";
import type { Rule } from "../../rules/rules.js";
import { REPROCESS_QUEUE } from "../../platform/queue-names.js";
import { createReprocessQueue, enqueueReprocess, type ReprocessJobData } from "../../reprocess/reprocess-queue.js";
import { CliError } from "../context.js";
import { MIGRATIONS_DIR } from "../paths.js";
import { checkPostgres } from "../../platform/preflight.js";
import { EXIT } from "../exit-codes.js";
import { isoDuration } from "../../rules/duration.js";
import { NO_WORKER_HINT, submitJob } from "../submit-job.js";

/** Exit codes of `watchdog reprocess` besides 0 (docs/reprocess.md, "Exit codes"): the CLI's own (src/cli/exit-codes.ts). */
const EXIT_FAILED = EXIT.failed;
const EXIT_BAD_REQUEST = EXIT.usage;
const EXIT_NOT_FOUND = EXIT.notFound;
/** The reprocess guard refused (Conflict:); --force restarts it anyway. */
const EXIT_CONFLICT = EXIT.conflict;

export interface ReprocessCommandOptions {
  taskId?: number;
  externalId?: string;
  organizationId?: number;
  requestedBy?: string;
  force?: boolean;
  wait: boolean;
  timeoutMs: number;
}

function whoAmI(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return "cli";
  }
}

const EXIT_BY_PREFIX: readonly [string, number][] = [
  ["BadRequest:", EXIT_BAD_REQUEST],
  ["NotFound:", EXIT_NOT_FOUND],
  ["Conflict:", EXIT_CONFLICT],
];
const exitCodeOf = (message: string) => EXIT_BY_PREFIX.find(([prefix]) => message.startsWith(prefix))?.[1] ?? EXIT_FAILED;

/**
 * Checks the request, resolves the task and asks the reprocess guard here, so a typo, an unknown
 * task or a refused one is reported at once (nothing is enqueued); then enqueues it deduplicated
 * per task. With `wait`, prints the outcome (the worker decides the guard again on the locked row).
 */
export async function enqueueReprocessCommand(config: Config, rules: readonly Rule[], options: ReprocessCommandOptions): Promise<void> {
  if (options.taskId === undefined && options.externalId === undefined) {
    throw new CliError("BadRequest: say which task: --task-id N, or --external-id X --organization-id N", EXIT_BAD_REQUEST);
  }
  if (options.externalId !== undefined && options.organizationId === undefined) {
    throw new CliError("BadRequest: --external-id needs --organization-id: an external id is unique only within its organization", EXIT_BAD_REQUEST);
  }
  const data: ReprocessJobData = {
    ...(options.taskId === undefined ? {} : { taskId: options.taskId }),
    ...(options.externalId === undefined ? {} : { externalId: options.externalId }),
    ...(options.organizationId === undefined ? {} : { organizationId: options.organizationId }),
    requestedBy: options.requestedBy ?? whoAmI(),
    ...(options.force ? { force: true } : {}),
  };
  const parsed = parseReprocessRequest(data);
  if (!parsed.ok) throw new CliError(parsed.error, EXIT_BAD_REQUEST);
  const { target } = parsed.request;

  await checkPostgres(config.databaseUrl, MIGRATIONS_DIR);
  const db = createDb(config.databaseUrl, { max: 1, statementTimeoutMs: config.databaseStatementTimeoutMs, connectTimeoutMs: config.databaseConnectTimeoutMs });
  let taskId: number;
  try {
    const task = await findTask(db, target);
    if (!task || (target.organizationId !== undefined && task.organizationId !== target.organizationId)) {
      throw new CliError(`NotFound: no ${describeTarget(target)}`, EXIT_NOT_FOUND);
    }
    taskId = task.id;
    const thresholdSeconds = guardThresholdSeconds(rules, task.status, task.workspaceId);
    const decision = decideReprocess({ status: task.status, statusAgeSeconds: task.statusAgeSeconds, thresholdSeconds, force: options.force === true }, `task ${task.id}`);
    if (!decision.allowed) throw new CliError(decision.reason, EXIT_CONFLICT);
  } finally {
    await db.$disconnect();
  }

  const { job, outcome } = await submitJob(
    config,
    (redis) => createReprocessQueue(redis, config.queuePrefix),
    (queue) => enqueueReprocess(queue, data, { dedupeTaskId: taskId }),
    options.wait ? options.timeoutMs : undefined,
  );
  switch (outcome.kind) {
    case "enqueued":
      return console.log(JSON.stringify({ enqueued: true, queue: REPROCESS_QUEUE, jobId: job.id, taskId }));
    case "completed":
      return console.log(JSON.stringify({ jobId: job.id, ...(outcome.result as object) }));
    case "timedOut":
      throw new CliError(`reprocess job ${job.id} for task ${taskId} did not finish within ${isoDuration(options.timeoutMs / 1000)}; it stays queued. ${NO_WORKER_HINT[0]!.toUpperCase()}${NO_WORKER_HINT.slice(1)}`);
    case "failed":
      throw new CliError(`reprocess job ${job.id} failed: ${outcome.message}`, exitCodeOf(outcome.message));
  }
}
