// `watchdog bulk-reprocess start|status|cancel`: the bulk reprocess of the HTTP API, for an
// operator acting for an organization. The same parsing (the status list's filters, written as a
// query string; ids) and the same functions as the endpoint (askBulk, findBulk, cancelBulk); a
// running worker — any replica — applies the bulk at the organization's pace.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { userInfo } from "node:os";
import type { Config } from "../../platform/config/settings.js";
import { createDb, type Db } from "../../platform/db/client.js";
import type { Rule } from "../../rules/rules.js";
import { checkPostgres } from "../../platform/preflight.js";
import { presentBulk } from "../../reprocess/bulk-bodies.js";
import { parseBulkRequest, parseIdempotencyKey } from "../../reprocess/bulk-request.js";
import { askBulk } from "../../reprocess/bulk-service.js";
import { cancelBulk } from "../../reprocess/sql/cancel-bulk.js";
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

const lines = (path: string) =>
  readFileSync(path === "-" ? 0 : path, "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");

/** The selection options as the endpoint's query and body, so one parser judges both. */
function asRequest(options: BulkStartOptions): { query: URLSearchParams; body: unknown } {
  const given = [options.filter, options.taskIds, options.taskIdsFile, options.externalIdsFile].filter((o) => o !== undefined).length;
  if (given !== 1) throw new CliError("BadRequest: give exactly one selection: --filter 'stuck=true&status=41', --task-ids 1,2,3, --task-ids-file FILE or --external-ids-file FILE", EXIT.usage);
  const query = new URLSearchParams(options.filter ?? "");
  if (options.dryRun) query.set("dryRun", "true");
  if (options.force) query.set("force", "true");
  const number = (text: string) => (/^\d+$/.test(text) ? Number(text) : text);
  if (options.taskIds !== undefined) return { query, body: { taskIds: options.taskIds.split(/[\s,]+/).filter(Boolean).map(number) } };
  if (options.taskIdsFile !== undefined) return { query, body: { taskIds: lines(options.taskIdsFile).map(number) } };
  if (options.externalIdsFile !== undefined) return { query, body: { externalIds: lines(options.externalIdsFile) } };
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
  const { query, body } = asRequest(options);
  const parsed = parseBulkRequest(query, body);
  if (!parsed.ok) throw new CliError(`BadRequest: ${parsed.error}`, EXIT.usage);
  const key = parseIdempotencyKey(options.idempotencyKey ?? randomUUID());
  if (!key.ok) throw new CliError(`BadRequest: ${key.error.replace("Idempotency-Key", "--idempotency-key")}`, EXIT.usage);
  const answer = await withDb(config, (db) =>
    askBulk({ db, rules }, { organizationId: options.organizationId, request: parsed.value, idempotencyKey: key.value, requestedBy: options.requestedBy ?? whoAmI() }),
  );
  switch (answer.kind) {
    case "preview":
      return console.log(JSON.stringify({ dryRun: true, ...answer.preview }));
    case "unprocessable":
      throw new CliError(`BadRequest: ${answer.error}`, EXIT.usage);
    case "keyReused":
      throw new CliError(`Conflict: ${answer.error.replace("Idempotency-Key", "--idempotency-key")}`, EXIT.conflict);
    case "accepted":
      return console.log(JSON.stringify({ idempotencyKey: key.value, replayed: answer.replayed, ...presentBulk(answer.bulk, answer.preview) }));
  }
}

export async function bulkStatusCommand(config: Config, organizationId: number, bulkId: string): Promise<void> {
  const bulk = await withDb(config, (db) => findBulk(db, organizationId, bulkId));
  if (!bulk) throw new CliError(`NotFound: no bulk reprocess ${bulkId} in organization ${organizationId}`, EXIT.notFound);
  console.log(JSON.stringify(presentBulk(bulk)));
}

export async function bulkCancelCommand(config: Config, organizationId: number, bulkId: string, requestedBy: string | undefined): Promise<void> {
  const result = await withDb(config, (db) => cancelBulk(db, organizationId, bulkId, requestedBy ?? whoAmI()));
  if (!result) throw new CliError(`NotFound: no bulk reprocess ${bulkId} in organization ${organizationId}`, EXIT.notFound);
  if (!result.cancelled && result.bulk.state === "done") throw new CliError(`Conflict: bulk ${bulkId} is already done (${result.bulk.applied} applied): nothing to cancel`, EXIT.conflict);
  console.log(JSON.stringify(presentBulk(result.bulk)));
}
