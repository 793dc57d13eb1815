// `watchdog pause` and `watchdog resume`: write the pause state in PostgreSQL, where every replica
// reads it at the start of its next sweep. Neither needs Redis or a running worker. The work is
// src/ops/actions.ts, shared with the operator console (same statements, same audit record).
import type { z } from "zod";
import type { Config } from "../../platform/config/settings.js";
import { createDb } from "../../platform/db/client.js";
import { pauseInputSchema, resumeInputSchema } from "../../sweep/pause.js";
import type { Rule } from "../../rules/rules.js";
import { pauseAction, resumeAction } from "../../ops/actions.js";
import { ActionError } from "../../platform/operator-actions.js";
import { formatIssues } from "../../platform/zod-issues.js";
import { checkPostgres } from "../../platform/preflight.js";
import { CliError } from "../context.js";
import { EXIT } from "../exit-codes.js";
import { MIGRATIONS_DIR } from "../paths.js";

/** Parses CLI options with `schema`; a problem is a usage error (exit 2) naming the flag. */
export function parseOptions<S extends z.ZodType>(schema: S, options: unknown): z.output<S> {
  const parsed = schema.safeParse(options, { reportInput: true });
  if (parsed.success) return parsed.data;
  throw new CliError(`BadRequest: ${formatIssues(parsed.error, { schema }).map((m) => `--${m}`).join("; ")}`, EXIT.usage);
}

/** An action's refusal as the CLI's exit code: 2 bad request, 3 not found, 4 conflict. */
export async function asCli<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof ActionError) throw new CliError(error.message, error.kind === "NotFound" ? EXIT.notFound : error.kind === "Conflict" ? EXIT.conflict : EXIT.usage, { cause: error });
    throw error;
  }
}

export async function pauseCommand(config: Config, rules: readonly Rule[], options: { rule?: string; for?: string; reason?: string; by?: string }): Promise<void> {
  const input = parseOptions(pauseInputSchema(rules), options);
  await checkPostgres(config.databaseUrl, MIGRATIONS_DIR);
  const db = createDb(config.databaseUrl, { max: 1, statementTimeoutMs: config.databaseStatementTimeoutMs, connectTimeoutMs: config.databaseConnectTimeoutMs });
  try {
    console.log(JSON.stringify(await pauseAction(db, input, "cli")));
  } finally {
    await db.$disconnect();
  }
}

export async function resumeCommand(config: Config, rules: readonly Rule[], options: { rule?: string; by?: string; reason?: string }): Promise<void> {
  const input = parseOptions(resumeInputSchema(rules), options);
  await checkPostgres(config.databaseUrl, MIGRATIONS_DIR);
  const db = createDb(config.databaseUrl, { max: 1, statementTimeoutMs: config.databaseStatementTimeoutMs, connectTimeoutMs: config.databaseConnectTimeoutMs });
  try {
    console.log(JSON.stringify(await asCli(() => resumeAction(db, input, "cli"))));
  } finally {
    await db.$disconnect();
  }
}
