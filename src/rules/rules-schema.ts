// The rules file and RULES_JSON as written, in one zod schema: field names, types and ranges. What
// depends on more than one field (a revert target must be stable, an archivable status may move to
// history) is judged after the layers are merged, in rules.ts. docs/rules.schema.json is generated
// from these schemas (`npm run schema`) so editors can check a rules file.
import { z } from "zod";
import { parsePositiveDuration, type DurationBound } from "./duration.js";
import { MAX_ID } from "../platform/ids.js";
import { describeStatuses, STATUSES } from "./status.js";

/**
 * The longest threshold a rule may have. Ten years is longer than any task waits, and keeps every
 * threshold in seconds far inside PostgreSQL's `integer` (P3650D = 315,360,000 s), so no sweep can overflow.
 */
export const MAX_STUCK_AFTER: DurationBound = { text: "P3650D", seconds: 3650 * 86_400 };

/** ISO-8601 durations of weeks, days, hours, minutes and seconds: what editors check before the worker does. */
const DURATION_PATTERN = "^P(?!$)(\\d+W)?(\\d+D)?(T(?=\\d)(\\d+H)?(\\d+M)?(\\d+(\\.\\d+)?S)?)?$";

/** A threshold as written and in seconds. */
export interface Threshold {
  readonly text: string;
  readonly seconds: number;
}

export const stuckAfterSchema = z
  .string({ error: 'must be an ISO-8601 duration such as "PT30M", "PT2H" or "P1D"' })
  .transform((text, ctx): Threshold => {
    const parsed = parsePositiveDuration(text, MAX_STUCK_AFTER);
    if ("error" in parsed) {
      ctx.issues.push({ code: "custom", message: parsed.error, input: text });
      return z.NEVER;
    }
    return { text: text.trim(), seconds: parsed.seconds };
  })
  .meta({ description: `ISO-8601 duration, at least PT1S and at most ${MAX_STUCK_AFTER.text}: "PT30M", "PT2H", "P1D".`, pattern: DURATION_PATTERN });

const boolean = z.boolean({ error: "must be true or false" });

/** A duration of the rate hold (its window, its baseline), bounded so the history stays small. */
const rateDuration = (min: number, max: DurationBound, example: string) =>
  z
    .string({ error: `must be an ISO-8601 duration such as "${example}"` })
    .transform((text, ctx): Threshold => {
      const parsed = parsePositiveDuration(text, max);
      if ("error" in parsed || parsed.seconds < min) {
        ctx.issues.push({ code: "custom", message: "error" in parsed ? parsed.error : `must be at least ${min} s`, input: text });
        return z.NEVER;
      }
      return { text: text.trim(), seconds: parsed.seconds };
    });

export const MAX_RATE_WINDOW: DurationBound = { text: "P1D", seconds: 86_400 };
export const MAX_RATE_BASELINE: DurationBound = { text: "P30D", seconds: 30 * 86_400 };

/** The rate hold of a rule (per status): `false` switches it off, `true` is the defaults; an object sets the fields it names, the rest are the defaults. */
export const rateHoldSchema = z
  .union(
    [
      z.boolean(),
      z.null(),
      z.strictObject({
        maxReverts: z.int({ error: `must be a whole number from 0 to ${MAX_ID}` }).min(0, { error: `must be a whole number from 0 to ${MAX_ID}` }).max(MAX_ID, { error: `must be a whole number from 0 to ${MAX_ID}` }).optional(),
        normalMultiple: z.number({ error: "must be a number above 0 and at most 1000" }).gt(0, { error: "must be a number above 0 and at most 1000" }).lte(1000, { error: "must be a number above 0 and at most 1000" }).optional(),
        window: rateDuration(60, MAX_RATE_WINDOW, "PT1H").optional(),
        baseline: rateDuration(3600, MAX_RATE_BASELINE, "P1D").optional(),
      }),
    ],
    { error: 'must be false, true (the defaults) or {"maxReverts": 1000, "normalMultiple": 3, "window": "PT1H", "baseline": "P1D"}' },
  )
  .meta({
    description:
      "The rule's rate hold: reverts of the status within `window` may not pass max(maxReverts, normalMultiple × its normal reverts per window over `baseline`). false = off; true or omitted = the defaults.",
  });

export const holdSchema = z
  .union(
    [
      z.boolean(),
      z.null(),
      z
        .strictObject({
          maxTasks: z.int({ error: `must be a whole number from 0 to ${MAX_ID}` }).min(0, { error: `must be a whole number from 0 to ${MAX_ID}` }).max(MAX_ID, { error: `must be a whole number from 0 to ${MAX_ID}` }).optional(),
          maxShare: z
            .number({ error: "must be a number above 0 and at most 1 (a share of the status's inbox tasks)" })
            .gt(0, { error: "must be a number above 0 and at most 1 (a share of the status's inbox tasks)" })
            .lte(1, { error: "must be a number above 0 and at most 1 (a share of the status's inbox tasks)" })
            .optional(),
          rate: rateHoldSchema.optional(),
        })
        .refine((h) => h.maxTasks !== undefined || h.maxShare !== undefined || h.rate !== undefined, {
          error: 'sets no limit; give "maxTasks" and/or "maxShare" (and "rate" for the rate hold), or write "hold": false to switch it off',
          when: (payload) => payload.issues.length === 0,
        }),
    ],
    { error: 'must be false, true (the defaults) or {"maxTasks": 500, "maxShare": 0.1}' },
  )
  .meta({ description: "The probe's circuit breakers: false = off, true = the defaults, or the limits it sets (level: maxTasks, maxShare; a rule's rate: rate). Omitted: the rule's (or the default) hold; an object that names only rate keeps the default level hold." });

const workspaceIdsSchema = z
  .array(z.int({ error: `must be a workspace id from 1 to ${MAX_ID}` }).min(1, { error: `must be a workspace id from 1 to ${MAX_ID}` }).max(MAX_ID, { error: `must be a workspace id from 1 to ${MAX_ID}` }), {
    error: "must be a list of workspace ids such as [7, 8]",
  })
  .min(1, { error: "must list at least one workspace id" });

export const workspaceOverrideSchema = z
  .strictObject({
    workspaceIds: workspaceIdsSchema,
    enabled: boolean.optional(),
    stuckAfter: stuckAfterSchema.optional(),
    hold: holdSchema.optional(),
  })
  .refine((o) => o.enabled === false || o.stuckAfter !== undefined, { path: ["stuckAfter"], error: 'must be an ISO-8601 duration such as "PT30M" (an enabled override needs its own threshold)' });

const workspacesSchema = z
  .array(workspaceOverrideSchema, { error: 'must be a list such as [{"workspaceIds": [7], "stuckAfter": "PT30M"}]' })
  .superRefine((overrides, ctx) => {
    const seen = new Set<number>();
    overrides.forEach((o, i) => {
      for (const id of o.workspaceIds) {
        if (seen.has(id)) ctx.addIssue({ code: "custom", path: [i, "workspaceIds"], message: `names workspace ${id}, which another override of this rule names too; list each workspace once` });
        seen.add(id);
      }
    });
  });

/** The keys a rule may have (the loader also takes names in any case; a stable status is refused there). */
const ruleKeys = STATUSES.filter((s) => s.kind !== "stable").flatMap((s) => [s.name, String(s.code)]) as [string, ...string[]];

export const ruleOverrideSchema = z.strictObject(
  {
  enabled: boolean.optional(),
  stuckAfter: stuckAfterSchema.optional(),
  action: z.enum(["revert", "moveToHistory", "flag"], { error: 'must be "revert", "moveToHistory" or "flag"' }).optional(),
  revertTo: z
    .union([z.string(), z.int()], { error: `must name a stable status by name or code: ${describeStatuses("stable")}` })
    .optional()
    .meta({ description: `Where a reverted task goes: a stable status, by name or code: ${describeStatuses("stable")}.` }),
  revertToPreviousIfStable: boolean.optional(),
  hold: holdSchema.optional(),
  workspaces: workspacesSchema.optional().meta({ description: "Per-workspace thresholds; a list given replaces the whole list of a lower layer." }),
  },
  { error: 'must be an object such as {"stuckAfter": "PT2H"}' },
);

export type RuleOverride = z.output<typeof ruleOverrideSchema>;

export const RULES_SHAPE_EXAMPLE = '{"ProcessingInProgress": {"stuckAfter": "PT6H"}}';

/** The wrapped form of a rules file; each rule inside is parsed on its own, to name it in messages. */
export const rulesWrapperSchema = z.strictObject({
  $schema: z.string().optional(),
  rules: z.record(z.string(), z.unknown(), { error: `must be an object keyed by status name, e.g. ${RULES_SHAPE_EXAMPLE}` }),
});

/**
 * The rules file: the rules themselves, or `{ "rules": { … } }` (optionally with `$schema`, for
 * editors). Only for docs/rules.schema.json: the loader picks the form by the presence of "rules".
 */
export const rulesFileJsonSchemaSource = z.union([
  z.strictObject({ $schema: z.string().optional(), rules: z.partialRecord(z.enum(ruleKeys), ruleOverrideSchema) }),
  z.partialRecord(z.enum(ruleKeys), ruleOverrideSchema),
]);

/** docs/rules.schema.json, from the zod schemas above. */
export function rulesJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(rulesFileJsonSchemaSource, { io: "input", target: "draft-2020-12" }),
    title: "task-watchdog rules (RULES_FILE, RULES_JSON)",
    description: "Rule overrides keyed by status name or code. Generated from src/rules/rules-schema.ts by `npm run schema`; do not edit.",
  };
}
