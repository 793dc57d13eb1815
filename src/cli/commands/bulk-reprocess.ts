// `watchdog bulk-reprocess start|status|cancel`: the bulk reprocess of the HTTP API, for an
// operator acting for an organization. The same parsing (the status list's filters, written as a
// query string; ids) and the same functions as the endpoint (askBulk, findBulk, cancelBulk); a
// running worker — any replica — applies the bulk at the organization's pace.
import { randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { userInfo } from "node:os";
import type { Config } from "../../platform/config/settings.js";
import { createDb, type Db } from "../../platform/db/client.js";
import type { Rule } from "../../rules/rules.js";
import { checkPostgres } from "../../platform/preflight.js";
import { presentBulk } from "../../reprocess/bulk-bodies.js";
import { MAX_BULK_TASKS, parseBulkRequest, parseIdempotencyKey } from "../../reprocess/bulk-request.js";
import { MAX_EXTERNAL_ID_LENGTH, requestedByText } from "../../reprocess/reprocess-request.js";
import { MAX_ID, parseId } from "../../platform/ids.js";
import { joinIssues } from "../../platform/zod-issues.js";
import { askBulk, startInProgressError, tooManyRunningError } from "../../reprocess/bulk-service.js";
import { ServiceError } from "../../platform/service-errors.js";
import { cancelBulk } from "../../reprocess/sql/cancel-bulk.js";
import { START_RETRY_AFTER_SECONDS } from "../../reprocess/sql/create-bulk.js";
import { findBulk } from "../../reprocess/sql/find-bulk.js";
import { CliError } from "../context.js";
import { EXIT } from "../exit-codes.js";
import { MIGRATIONS_DIR } from "../paths.js";

export interface BulkStartOptions {
  organizationId: number;
  filter?: string;
  taskIds?: string;
  taskIdsFile?: string;
  externalIdsFile?: string;
  dryRun: boolean;
  force: boolean;
  idempotencyKey?: string;
  requestedBy?: string;
}

function whoAmI(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return "cli";
  }
}

/**
 * --requested-by becomes the actor and reason of every REPROCESSED event of the bulk (or its
 * cancelledBy) and goes into the logs: refused as job data's requestedBy is (reprocess-request.ts),
 * so a newline cannot forge an audit or log line. Default: cli:<your user name>.
 */
function requester(option: string | undefined): string {
  if (option === undefined) return whoAmI();
  const parsed = requestedByText.safeParse(option);
  if (!parsed.success) throw new CliError(`BadRequest: --requested-by ${parsed.error.issues[0]!.message}`, EXIT.usage);
  return option.trim();
}

/** At most this many bytes are read from an ids file: the API's most ids, each on a line of the longest id. */
const MAX_TASK_IDS_FILE_BYTES = MAX_BULK_TASKS * (String(MAX_ID).length + 2);
const MAX_EXTERNAL_IDS_FILE_BYTES = MAX_BULK_TASKS * (MAX_EXTERNAL_ID_LENGTH + 2);

const FS_ERRORS: Record<string, string> = {
  ENOENT: "no such file",
  EISDIR: "a directory, not a file",
  EACCES: "permission denied",
  ENOTDIR: "a part of the path is not a directory",
  ELOOP: "too many symbolic links",
};

/**
 * An ids file's lines, numbered from 1, blank ones left out. Read at most `maxBytes` (a device such
 * as /dev/zero never ends): a larger file is refused, as is one that cannot be read, with exit 2.
 */
async function readLines(option: string, path: string, maxBytes: number, limit: string): Promise<{ line: number; text: string }[]> {
  const name = path === "-" ? "(standard input)" : path;
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of path === "-" ? process.stdin : createReadStream(path)) {
      size += (chunk as Buffer).length;
      // Leaving the loop destroys the stream: nothing more is read.
      if (size > maxBytes) throw new CliError(`BadRequest: ${option} ${name} is larger than ${maxBytes} bytes (${limit}); split the bulk`, EXIT.usage);
      chunks.push(chunk as Buffer);
    }
  } catch (error) {
    if (error instanceof CliError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === undefined ? String((error as Error).message) : `${code}${FS_ERRORS[code] ? ` (${FS_ERRORS[code]})` : ""}`;
    throw new CliError(`BadRequest: cannot read ${option} ${name}: ${why}`, EXIT.usage, { cause: error });
  }
  return Buffer.concat(chunks)
    .toString("utf8")
    .split("\n")
    .map((text, i) => ({ line: i + 1, text: text.trim() }))
    .filter((l) => l.text !== "");
}

const shown = (text: string) => JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);

/** Task ids, or a refusal naming the first few entries that are not one (`where` names an entry) and counting the rest. */
function taskIds(source: string, kind: "lines" | "entries", entries: readonly { where: string; text: string }[]): number[] {
  const bad = entries.filter((e) => parseId(e.text) === undefined).map((e) => (e.text === "" ? `${e.where} is empty` : `${e.where} ${shown(e.text)}`));
  if (bad.length > 0) throw new CliError(`BadRequest: ${source} holds ${kind} that are not task ids (a whole number from 1 to ${MAX_ID}): ${joinIssues(bad)}`, EXIT.usage);
  return entries.map((e) => parseId(e.text)!);
}

/** The selection options as the endpoint's query and body, so one parser judges both. */
async function asRequest(options: BulkStartOptions): Promise<{ query: URLSearchParams; body: unknown }> {
  const given = [options.filter, options.taskIds, options.taskIdsFile, options.externalIdsFile].filter((o) => o !== undefined).length;
  if (given !== 1) throw new CliError("BadRequest: give exactly one selection: --filter 'stuck=true&status=41', --task-ids 1,2,3, --task-ids-file FILE or --external-ids-file FILE", EXIT.usage);
  const query = new URLSearchParams(options.filter ?? "");
  // The endpoint reads force and dryRun from the same query: through --filter they would skip the guard
  // (or only preview) without the flag that says so on the command line.
  for (const [param, flag] of [["force", "--force"], ["dryRun", "--dry-run"]] as const) {
    if (query.has(param)) throw new CliError(`BadRequest: --filter names ${param}, which is not a filter; give ${flag} instead`, EXIT.usage);
  }
  if (options.dryRun) query.set("dryRun", "true");
  if (options.force) query.set("force", "true");
  if (options.taskIds !== undefined) {
    // Commas or blanks between ids; an empty entry (`1,,2`, a trailing comma) is refused, not dropped.
    const entries = options.taskIds.trim().split(/\s*,\s*|\s+/);
    return { query, body: { taskIds: taskIds("--task-ids", "entries", entries.map((text, i) => ({ where: `entry ${i + 1}`, text }))) } };
  }
  if (options.taskIdsFile !== undefined) {
    const lines = await readLines("--task-ids-file", options.taskIdsFile, MAX_TASK_IDS_FILE_BYTES, `${MAX_BULK_TASKS} ids of up to ${String(MAX_ID).length} digits, one per line`);
    return { query, body: { taskIds: taskIds(`--task-ids-file ${options.taskIdsFile === "-" ? "(standard input)" : options.taskIdsFile}`, "lines", lines.map((l) => ({ where: `line ${l.line}`, text: l.text }))) } };
  }
  if (options.externalIdsFile !== undefined) {
    const lines = await readLines("--external-ids-file", options.externalIdsFile, MAX_EXTERNAL_IDS_FILE_BYTES, `${MAX_BULK_TASKS} ids of up to ${MAX_EXTERNAL_ID_LENGTH} characters, one per line`);
    return { query, body: { externalIds: lines.map((l) => l.text) } };
  }
  return { query, body: undefined };
}

async function withDb<T>(config: Config, work: (db: Db) => Promise<T>): Promise<T> {
  await checkPostgres(config.databaseUrl, MIGRATIONS_DIR);
  const db = createDb(config.databaseUrl, { max: 1, statementTimeoutMs: config.databaseStatementTimeoutMs, connectTimeoutMs: config.databaseConnectTimeoutMs });
  try {
    return await work(db);
  } finally {
    await db.$disconnect();
  }
}

/** Prints the preview, or the accepted bulk (with its Idempotency-Key, to run the same command again safely). */
export async function bulkStartCommand(config: Config, rules: readonly Rule[], options: BulkStartOptions): Promise<void> {
  const { query, body } = await asRequest(options);
  const parsed = parseBulkRequest(query, body);
  if (!parsed.ok) throw new CliError(`BadRequest: ${parsed.error}`, EXIT.usage);
  const key = parseIdempotencyKey(options.idempotencyKey ?? randomUUID());
  if (!key.ok) throw new CliError(`BadRequest: ${key.error.replace("Idempotency-Key", "--idempotency-key")}`, EXIT.usage);
  const requestedBy = requester(options.requestedBy);
  const answer = await withDb(config, (db) =>
    askBulk({ db, rules, maxRunning: config.bulkReprocessMaxRunning }, { organizationId: options.organizationId, request: parsed.value, idempotencyKey: key.value, requestedBy }),
  );
  switch (answer.kind) {
    case "preview":
      return console.log(JSON.stringify({ dryRun: true, ...answer.preview }));
    case "unprocessable":
      throw new CliError(`BadRequest: ${answer.error}`, EXIT.usage);
    case "keyReused":
      throw new CliError(`Conflict: ${answer.error.replace("Idempotency-Key", "--idempotency-key")}`, EXIT.conflict);
    case "tooManyRunning": {
      const org = `--organization-id ${options.organizationId}`;
      const how = {
        follow: `watchdog bulk-reprocess status <bulkId> ${org}`,
        cancel: `watchdog bulk-reprocess cancel <bulkId> ${org}`,
        retry: `run this command again with --idempotency-key ${key.value}`,
      };
      throw new CliError(`Conflict: ${tooManyRunningError(answer, `organization ${options.organizationId}`, how)}`, EXIT.conflict);
    }
    case "startInProgress":
      // A temporary failure, as a database that does not answer: exit 1, and the same command again is safe.
      throw new ServiceError(startInProgressError(`organization ${options.organizationId}`, `run this command again in ${START_RETRY_AFTER_SECONDS} seconds with --idempotency-key ${key.value}`));
    case "accepted":
      return console.log(JSON.stringify({ idempotencyKey: key.value, replayed: answer.replayed, ...presentBulk(answer.bulk, answer.preview) }));
  }
}

/** An empty id is a mistake in the command (a variable unset), not a bulk that is not there. */
function requireBulkId(bulkId: string): void {
  if (bulkId.trim() === "") throw new CliError("BadRequest: the bulk id is empty; give the bulkId that `watchdog bulk-reprocess start` printed", EXIT.usage);
}

export async function bulkStatusCommand(config: Config, organizationId: number, bulkId: string): Promise<void> {
  requireBulkId(bulkId);
  const bulk = await withDb(config, (db) => findBulk(db, organizationId, bulkId));
  if (!bulk) throw new CliError(`NotFound: no bulk reprocess ${bulkId} in organization ${organizationId}`, EXIT.notFound);
  console.log(JSON.stringify(presentBulk(bulk)));
}

export async function bulkCancelCommand(config: Config, organizationId: number, bulkId: string, requestedBy: string | undefined): Promise<void> {
  requireBulkId(bulkId);
  const cancelledBy = requester(requestedBy);
  const result = await withDb(config, (db) => cancelBulk(db, organizationId, bulkId, cancelledBy));
  if (!result) throw new CliError(`NotFound: no bulk reprocess ${bulkId} in organization ${organizationId}`, EXIT.notFound);
  if (!result.cancelled && result.bulk.state === "done") throw new CliError(`Conflict: bulk ${bulkId} is already done (${result.bulk.applied} applied): nothing to cancel`, EXIT.conflict);
  console.log(JSON.stringify(presentBulk(result.bulk)));
}
