#!/usr/bin/env node
// The `watchdog` command. Every subcommand validates configuration first; see --help.
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { isoDuration, parsePositiveDuration } from "../rules/duration.js";
import { MAX_SETTING_DURATION } from "../platform/config/settings.js";
import { EXIT } from "./exit-codes.js";
import { refuseRepeatedOptions, refuseTimeoutWithoutWait, repeatable } from "./options.js";
import { packageVersion } from "./version.js";
import { ConfigError, redactUrl } from "../platform/config/load-config.js";
import { loadConfig } from "../platform/config/load-config.js";
import { migrate, MigrationError } from "../platform/db/migrate.js";
import { runWorkerProcess } from "../worker-process.js";
import { describePostgresError, ServiceError } from "../platform/service-errors.js";
import { isDatabaseUnavailable } from "../platform/db/statement-error.js";
import { checkPostgres, checkRedis, PREFLIGHT_TIMEOUT_MS } from "../platform/preflight.js";
import { CliError, loadContext } from "./context.js";
import { WebhookSecretsKeyError } from "../outbox/webhook-secret-box.js";
import { MIGRATIONS_DIR } from "./paths.js";
import { printRules } from "./commands/rules.js";
import { printStuck } from "./commands/stuck.js";
import { enqueueSweepCommand } from "./commands/sweep.js";
import { enqueueReprocessCommand } from "./commands/reprocess.js";
import { pauseCommand, resumeCommand } from "./commands/pause.js";
import { MAX_ID, parseId } from "../platform/ids.js";
import { printStatus } from "./commands/status.js";
import { givenUpCommand, replayCommand } from "./commands/events.js";
import { bulkCancelCommand, bulkStartCommand, bulkStatusCommand } from "./commands/bulk-reprocess.js";
import {
  createTokenCommand,
  createWebhookCommand,
  listTokensCommand,
  listWebhooksCommand,
  revokeTokenCommand,
  revokeWebhookCommand,
  rotateTokenCommand,
  rotateWebhookCommand,
  testSendWebhookCommand,
} from "./commands/tenants.js";

/** An ISO-8601 duration option, in milliseconds; its help shows the default as written (`PT1M`). */
const durationOption = (value: string): number => {
  const d = parsePositiveDuration(value, MAX_SETTING_DURATION);
  if ("error" in d) throw new InvalidArgumentError(`the duration ${d.error}`);
  return d.seconds * 1000;
};
const timeoutOption = (what: string, defaultMs: number) =>
  new Option("--timeout <duration>", what).argParser(durationOption).default(defaultMs, isoDuration(defaultMs / 1000));

const idOption = (value: string): number => {
  const id = parseId(value);
  if (id === undefined) throw new InvalidArgumentError(`must be a whole number from 1 to ${MAX_ID}`);
  return id;
};

const program = new Command("watchdog")
  .description(
    "Finds tasks stuck in a transient status and reverts them or moves them to history.\n" +
      "Configuration comes from environment variables (docs/configuration.md).\n" +
      "Exit codes: 0 ok, 1 failure, 2 bad request or usage, 3 not found, 4 conflict (docs/cli.md).",
  )
  .version(packageVersion(), "-V, --version", "print the version")
  // Argument errors: one line and a pointer to --help (printed in the catch below), exit code 2.
  .exitOverride()
  .configureOutput({ outputError: () => undefined });

program
  .command("start")
  .description(
    "Run the worker until SIGTERM/SIGINT: the scheduled sweep (every SWEEP_INTERVAL, one replica at a time), the workers of the\n" +
      "task-watchdog (sweep) and task-reprocess queues, and two HTTP listeners: the external API on API_HOST:API_PORT\n" +
      "(PATCH /api/v1.0/external/sdtask/restartprocessing, the read API, /api/openapi.json) and the ops listener on OPS_HOST:OPS_PORT\n" +
      "(/healthz, /readyz, /health/sweeps, /metrics, Bull Board at /admin/queues).\n" +
      "Checks Redis, PostgreSQL and the schema first. The first signal stops gracefully within SHUTDOWN_TIMEOUT, a second forces it.",
  )
  .action(async () => {
    const { config, rules, logger } = loadContext();
    await runWorkerProcess(config, rules, logger, MIGRATIONS_DIR);
  });

program
  .command("sweep")
  .description("Enqueue a manual sweep on the task-watchdog queue (a running worker executes it).")
  .option("--dry-run", "report what would be done, change nothing", false)
  .option("--wait", "wait for the result and print it", false)
  .addOption(timeoutOption("with --wait: give up waiting after this ISO-8601 duration (the sweep stays queued)", 60_000))
  .option("--release <status>", "act on this status's held tasks anyway, for this one sweep (repeatable; needs --by)", repeatable)
  .option("--by <name>", "with --release: who checked the held tasks (recorded in every event)")
  .option("--reason <text>", "with --release: why they may go (audited in operator_actions)")
  .action(async (options: { dryRun: boolean; wait: boolean; timeout: number; release?: string[]; by?: string; reason?: string }) => {
    const { config, rules } = loadContext();
    await enqueueSweepCommand(config, rules, { dryRun: options.dryRun, wait: options.wait, timeoutMs: options.timeout, release: options.release, by: options.by, reason: options.reason });
  });

program
  .command("pause")
  .description(
    "Pause the sweep for every rule, or one (PostgreSQL: every replica honours it at its next sweep). A paused sweep still runs and reports what it would do; it acts on none of it.\n" +
      "Pausing what is already paused replaces that pause (no gap). Exit codes: 2 bad arguments, 1 anything else.",
  )
  .option("--rule <status>", "pause only this rule (status name or code); default: every rule")
  .option("--for <duration>", "ISO-8601 duration after which the pause ends by itself (database clock); default: until resumed")
  .option("--reason <text>", "why (required; shown in status, logs and /health/sweeps)")
  .option("--by <name>", "who pauses (required; audited)")
  .action(async (options: { rule?: string; for?: string; reason?: string; by?: string }) => {
    const { config, rules } = loadContext();
    await pauseCommand(config, rules, options);
  });

program
  .command("resume")
  .description("End the pause of one rule (--rule), or every pause. Exit codes: 2 bad arguments, 3 nothing (of that rule) was paused, 1 anything else.")
  .option("--rule <status>", "resume only this rule's pause (status name or code); default: every pause")
  .option("--by <name>", "who resumes (required; audited)")
  .option("--reason <text>", "why (audited in operator_actions)")
  .action(async (options: { rule?: string; by?: string; reason?: string }) => {
    const { config, rules } = loadContext();
    await resumeCommand(config, rules, options);
  });

const events = program.command("events").description("Webhook events: list the given-up ones, replay (docs/operations.md, WatchdogEventsGivenUp).");

events
  .command("replay")
  .description(
    "Send webhook events once more, each with its original webhook-id and a fresh signature (a running worker sends them; audited).\n" +
      "Choose one: --event (repeatable), --organization with --since and --until, or --given-up [--organization].\n" +
      "Exit codes: 2 bad arguments, 3 nothing to replay (unknown event, none given up), 1 anything else.",
  )
  .option("--event <id>", "an event id such as evt_42 (repeatable)", repeatable)
  .option("--organization <id>", "whose events (with --since/--until, or to narrow --given-up)")
  .option("--since <time>", "ISO-8601: events created at or after this time (without an offset: UTC)")
  .option("--until <time>", "ISO-8601: events created before this time (without an offset: UTC)")
  .option("--given-up", "every given-up event no replay has delivered yet", false)
  .option("--by <name>", "who replays (required; audited)")
  .option("--reason <text>", "why (required; audited)")
  .action(async (options: { event?: string[]; organization?: string; since?: string; until?: string; givenUp: boolean; by?: string; reason?: string }) => {
    const { config } = loadContext();
    await replayCommand(config, options);
  });

events
  .command("given-up")
  .description("Read-only: the webhook events given up (failed past WEBHOOK_RETRY_FOR) that no replay has delivered yet.")
  .option("--json", "print JSON", false)
  .action(async (options: { json: boolean }) => {
    const { config } = loadContext();
    await givenUpCommand(config, options.json);
  });

program
  .command("status")
  .description("Read-only: is the watchdog acting? What is paused, what the last sweep held, whether sweeps are overdue, the recent pauses.")
  .option("--json", "print JSON", false)
  .action(async (options: { json: boolean }) => {
    const { config } = loadContext();
    // Both services first, bounded, each failure one line naming its variable and the fix.
    await checkPostgres(config.databaseUrl, MIGRATIONS_DIR);
    await checkRedis(config, undefined, { readOnly: true });
    await printStatus(config, options.json);
  });

program
  .command("reprocess")
  .description(
    "Request a reprocess of one task (queue task-reprocess): DESTRUCTIVE, its edits are discarded and processing restarts.\n" +
      "Refused (exit 4) when the task is Deleting/Deleted or its machine work is in flight and not past its rule's threshold, unless --force.\n" +
      "Exit codes: 2 bad request, 3 no such task, 4 refused by the reprocess guard, 1 anything else (job failed, timed out, configuration).",
  )
  .option("--task-id <id>", "the task's id", idOption)
  .option("--external-id <id>", "the task's external id (needs --organization-id)")
  .option("--organization-id <id>", "the organization of --external-id; with --task-id, the task must belong to it", idOption)
  .option("--requested-by <name>", "who asks, for the audit trail (default: cli:<your user name>)")
  .option("--force", "restart even when the reprocess guard refuses (Deleting/Deleted, work in flight); audited as forced", false)
  .option("--wait", "wait for the outcome and print it", false)
  .addOption(timeoutOption("with --wait: give up waiting after this ISO-8601 duration (the request stays queued)", 30_000))
  .action(async (options: { taskId?: number; externalId?: string; organizationId?: number; requestedBy?: string; force: boolean; wait: boolean; timeout: number }) => {
    const { config, rules } = loadContext();
    await enqueueReprocessCommand(config, rules, { ...options, timeoutMs: options.timeout });
  });

const bulk = program
  .command("bulk-reprocess")
  .description(
    "Bulk reprocess for one organization, as POST …/restartprocessing/bulk does (docs/reprocess.md, \"Bulk reprocess\"): DESTRUCTIVE for every task.\n" +
      "A running worker applies it at BULK_REPROCESS_RATE per second. Exit codes: 2 bad request, 3 no such bulk, 4 key reused / BULK_REPROCESS_MAX_RUNNING bulks already running / bulk already done, 1 anything else.",
  );

bulk
  .command("start")
  .description("Preview (--dry-run) or start a bulk reprocess. Prints JSON: the preview, or the bulk with its id and idempotency key.")
  .requiredOption("--organization-id <id>", "the organization whose tasks are reprocessed", idOption)
  .option("--filter <query>", "the status list's filters as a query string, e.g. 'stuck=true&status=ProcessingInProgress&changedSince=2026-12-01T00:00:00Z'")
  .option("--task-ids <ids>", "task ids, comma-separated")
  .option("--task-ids-file <path>", "task ids, one per line ('-': standard input)")
  .option("--external-ids-file <path>", "external ids, one per line ('-': standard input)")
  .option("--dry-run", "preview: how many match, how many the guard would refuse and why, how many edits would be discarded; change nothing", false)
  .option("--force", "skip the reprocess guard for every task; each reprocess is audited as forced", false)
  .option("--idempotency-key <key>", "run the same command again with the same key to get the same bulk, never a second one (default: a new UUID, printed)")
  .option("--requested-by <name>", "who asks, for the audit trail (default: cli:<your user name>)")
  .action(async (options) => {
    const { config, rules } = loadContext();
    await bulkStartCommand(config, rules, options);
  });

bulk
  .command("status <bulkId>")
  .description("Print a bulk's progress: applied, refused, not found, pending.")
  .requiredOption("--organization-id <id>", "the bulk's organization", idOption)
  .action(async (bulkId: string, options: { organizationId: number }) => {
    const { config } = loadContext();
    await bulkStatusCommand(config, options.organizationId, bulkId);
  });

bulk
  .command("cancel <bulkId>")
  .description("Cancel a running bulk: once this returns, none of its pending tasks is reprocessed.")
  .requiredOption("--organization-id <id>", "the bulk's organization", idOption)
  .option("--requested-by <name>", "who cancels, for the record (default: cli:<your user name>)")
  .action(async (bulkId: string, options: { organizationId: number; requestedBy?: string }) => {
    const { config } = loadContext();
    await bulkCancelCommand(config, options.organizationId, bulkId, options.requestedBy);
  });

program
  .command("stuck")
  .description("Read-only: per rule, how many tasks are stuck now and the oldest (database clock).")
  .option("--json", "print JSON", false)
  .action(async (options: { json: boolean }) => {
    const { config, rules } = loadContext();
    await checkPostgres(config.databaseUrl, MIGRATIONS_DIR);
    await printStuck(config, rules, options.json);
  });

program
  .command("rules")
  .description("Print the effective rules: defaults with RULES_FILE / RULES_JSON applied.")
  .option("--json", "print JSON", false)
  .action((options: { json: boolean }) => {
    const { rules } = loadContext();
    printRules(rules, options.json);
  });

program
  .command("migrate")
  .description("Create the database if missing and apply prisma/migrations (Prisma's bookkeeping; safe to run twice).")
  .action(async () => {
    const config = loadConfig();
    // Retries and invalid indexes dropped go to stderr as they happen: a long index build is not silent.
    // Connecting is bounded as the other commands' checks are: a server that never answers is a clear failure, not a hang.
    const result = await migrate(config.databaseUrl, MIGRATIONS_DIR, { connectTimeoutMs: PREFLIGHT_TIMEOUT_MS, onProgress: (message) => console.error(`watchdog migrate: ${message}`) }).catch((error: unknown) => {
      // The runner's own refusals are worded already; a connection or server failure is worded here (never the raw pg object).
      throw error instanceof MigrationError ? error : new ServiceError(describePostgresError(error, config.databaseUrl), { cause: error });
    });
    console.log(
      JSON.stringify({
        database: redactUrl(config.databaseUrl),
        createdDatabase: result.createdDatabase,
        applied: result.applied,
        alreadyApplied: result.alreadyApplied.length,
        droppedInvalidIndexes: result.droppedInvalidIndexes,
        finishedPartitionIndexes: result.finishedPartitionIndexes,
      }),
    );
  });

// Tenants kept in PostgreSQL: API tokens and webhook endpoints per organization (docs/cli.md).
const overlapOption = () =>
  new Option("--overlap <duration>", "ISO-8601 duration the old one stays valid beside the new one (--overlap-none: it stops now)").argParser(durationOption).default(86_400_000, "P1D");
const overlapNoneOption = (what: string) => new Option("--overlap-none", what).default(false).conflicts("overlap");
const overlapSeconds = (options: { overlap: number; overlapNone: boolean }) => (options.overlapNone ? 0 : options.overlap / 1000);

const tokens = program.command("tokens").description("API tokens kept in PostgreSQL (API_TOKENS stays for small set-ups): create, list, rotate, revoke. A token is printed once.");
tokens
  .command("create")
  .description("Create a token for one organization and print it (once; only its SHA-256 is stored). Valid at once on every replica.")
  .option("--organization-id <id>", "the organization it acts for", idOption)
  .option("--label <text>", "a name for people (e.g. ci, billing-export)")
  .option("--by <name>", "who creates it (required; audited)")
  .action(async (options: { organizationId?: number; label?: string; by?: string }) => createTokenCommand(loadContext().config, options));
tokens
  .command("list")
  .description("Valid tokens (with --all also revoked and expired ones): id, organization, fingerprint, label, dates. Never a token.")
  .option("--organization-id <id>", "only this organization", idOption)
  .option("--all", "include revoked and expired tokens", false)
  .option("--json", "print JSON", false)
  .action(async (options: { organizationId?: number; all: boolean; json: boolean }) => listTokensCommand(loadContext().config, options));
tokens
  .command("rotate")
  .description("Create a new token for the token's organization and print it; the old one stays valid for --overlap. Exit 3: no valid token with that id.")
  .option("--id <id>", "the token's id (watchdog tokens list)", idOption)
  .addOption(overlapOption())
  .addOption(overlapNoneOption("the old token stops at once"))
  .option("--by <name>", "who rotates it (required; audited)")
  .action(async (options: { id?: number; overlap: number; overlapNone: boolean; by?: string }) => rotateTokenCommand(loadContext().config, { ...options, overlapSeconds: overlapSeconds(options) }));
tokens
  .command("revoke")
  .description("Revoke a token at once (every replica refuses it from its next request). Exit 3: no valid token with that id.")
  .option("--id <id>", "the token's id (watchdog tokens list)", idOption)
  .option("--by <name>", "who revokes it (required; audited)")
  .action(async (options: { id?: number; by?: string }) => revokeTokenCommand(loadContext().config, options));

const webhooks = program
  .command("webhooks")
  .description("Webhook endpoints kept in PostgreSQL, secrets sealed under WEBHOOK_SECRETS_KEY (WEBHOOKS_FILE/WEBHOOKS_JSON stay for small set-ups): create, list, rotate, revoke, test-send.");
webhooks
  .command("create")
  .description("Create an organization's endpoint with a new secret and print the secret (once). Exit 4: it already has one.")
  .option("--organization-id <id>", "whose events it receives", idOption)
  .option("--url <url>", "https://… (plain http only for a loopback host)")
  .option("--by <name>", "who creates it (required; audited)")
  .action(async (options: { organizationId?: number; url?: string; by?: string }) => createWebhookCommand(loadContext().config, options));
webhooks
  .command("list")
  .description("Active endpoints (with --all also revoked ones): organization, url, until when each secret is valid. Never a secret.")
  .option("--organization-id <id>", "only this organization", idOption)
  .option("--all", "include revoked endpoints", false)
  .option("--json", "print JSON", false)
  .action(async (options: { organizationId?: number; all: boolean; json: boolean }) => listWebhooksCommand(loadContext().config, options));
webhooks
  .command("rotate")
  .description("Add a new secret and print it (once); the old one stays valid for --overlap, each delivery signed with both meanwhile. Exit 3: no active endpoint.")
  .option("--organization-id <id>", "whose endpoint", idOption)
  .addOption(overlapOption())
  .addOption(overlapNoneOption("the old secret stops at once"))
  .action(async (options: { organizationId?: number; overlap: number; overlapNone: boolean }) => rotateWebhookCommand(loadContext().config, { ...options, overlapSeconds: overlapSeconds(options) }));
webhooks
  .command("revoke")
  .description("Stop delivering to an organization's endpoint (kept as a record). Exit 3: no active endpoint.")
  .option("--organization-id <id>", "whose endpoint", idOption)
  .option("--by <name>", "who revokes it (required; audited)")
  .action(async (options: { organizationId?: number; by?: string }) => revokeWebhookCommand(loadContext().config, options));
webhooks
  .command("test-send")
  .description("POST one signed test message (type webhook.test) to the organization's endpoint and print the answer. Exit 1: no 2xx; 3: no active endpoint.")
  .option("--organization-id <id>", "whose endpoint", idOption)
  .addOption(timeoutOption("give up after this ISO-8601 duration", 10_000))
  .action(async (options: { organizationId?: number; timeout: number }) => testSendWebhookCommand(loadContext().config, { organizationId: options.organizationId, timeoutMs: options.timeout }));

refuseRepeatedOptions(program);
refuseTimeoutWithoutWait(program);
program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof CommanderError) {
    // --help and --version end here with 0; no command at all printed the help (to stderr).
    if (error.exitCode === 0) return;
    if (error.code !== "commander.help") {
      const command = program.commands.find((c) => c.name() === process.argv[2]);
      console.error(`watchdog: ${error.message.replace(/^error: /, "")}; see \`watchdog ${command ? `${command.name()} ` : ""}--help\``);
    }
    process.exitCode = EXIT.usage;
    return;
  }
  // Worded for an operator already (a WEBHOOK_SECRETS_KEY that cannot open a stored secret is configuration): the message alone.
  if (error instanceof ConfigError || error instanceof CliError || error instanceof MigrationError || error instanceof ServiceError || error instanceof WebhookSecretsKeyError) {
    console.error(`watchdog: ${error.message}`);
    process.exitCode = error instanceof CliError ? error.exitCode : EXIT.failed;
    return;
  }
  // PostgreSQL lost after the command's check (a terminated backend, a restart, a timeout): one line
  // naming DATABASE_URL, as the check's own failures are. What the command did before it stays done.
  if (isDatabaseUnavailable(error)) {
    console.error(`watchdog: ${describePostgresError(error, loadConfig().databaseUrl)}: the command stopped there; run it again once PostgreSQL answers`);
    process.exitCode = EXIT.failed;
    return;
  }
  console.error("watchdog:", error);
  process.exitCode = EXIT.failed;
});
