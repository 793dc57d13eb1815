// `watchdog pause` and `watchdog resume`: write the pause state in PostgreSQL, where every replica
// reads it at the start of its next sweep. Neither needs Redis or a running worker.
import type { z } from "zod";
import type { Config } from "../../platform/config/settings.js";
import { createDb } from "../../platform/db/client.js";
import { pauseSweeps } from "../../sweep/sql/pause-sweeps.js";
import { resumeSweeps } from "../../sweep/sql/resume-sweeps.js";
import { describePause, pauseInputSchema, pauseRule, resumeInputSchema, type Pause } from "../../sweep/pause.js";
import type { Rule } from "../../rules/rules.js";
import { formatIssues } from "../../platform/zod-issues.js";
import { CliError } from "../context.js";
import { EXIT } from "../exit-codes.js";

/** Parses CLI options with `schema`; a problem is a usage error (exit 2) naming the flag. */
function parseOptions<S extends z.ZodType>(schema: S, options: unknown): z.output<S> {
  const parsed = schema.safeParse(options, { reportInput: true });
  if (parsed.success) return parsed.data;
  throw new CliError(`BadRequest: ${formatIssues(parsed.error, { schema }).map((m) => `--${m}`).join("; ")}`, EXIT.usage);
}

const ended = (p: Pause) => ({ ...describePause(p), ended: p.endedHow, endedAt: p.endedAt?.toISOString() ?? null, endedBy: p.endedBy });

export async function pauseCommand(config: Config, rules: readonly Rule[], options: { rule?: string; for?: string; reason?: string; by?: string }): Promise<void> {
  const input = parseOptions(pauseInputSchema(rules), options);
  const db = createDb(config.databaseUrl, { max: 1 });
  try {
    const { pause, replaced } = await pauseSweeps(db, { status: input.rule ?? null, reason: input.reason, by: input.by, forSeconds: input.for ?? null });
    console.log(JSON.stringify({ paused: describePause(pause), replaced: replaced ? ended(replaced) : null }));
  } finally {
    await db.$disconnect();
  }
}

export async function resumeCommand(config: Config, rules: readonly Rule[], options: { rule?: string; by?: string }): Promise<void> {
  const input = parseOptions(resumeInputSchema(rules), options);
  const db = createDb(config.databaseUrl, { max: 1 });
  try {
    const pauses = await resumeSweeps(db, { status: input.rule ?? null, by: input.by });
    const resumed = pauses.filter((p) => p.endedHow === "RESUMED");
    if (resumed.length === 0) {
      const what = input.rule === undefined ? "nothing is paused" : `${pauseRule(input.rule)} is not paused on its own (see \`watchdog status\`)`;
      throw new CliError(`NotFound: ${what}${pauses.length > 0 ? "; its pause had already expired" : ""}`, EXIT.notFound);
    }
    console.log(JSON.stringify({ resumed: resumed.map(ended), expired: pauses.filter((p) => p.endedHow === "EXPIRED").map(ended) }));
  } finally {
    await db.$disconnect();
  }
}
