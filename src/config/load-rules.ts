import { readFileSync } from "node:fs";
import { buildRules, RulesError, type Rule, type RuleOverrides } from "../domain/rules.js";
import { ConfigError } from "./load-config.js";

/**
 * The effective rules: defaults, then RULES_FILE, then RULES_JSON. A rules file may be the
 * overrides object itself or `{ "rules": { … } }`. Any problem stops start-up with a ConfigError
 * naming the source and the rule.
 */
export function loadRules(source: { rulesFile?: string | undefined; rulesJson?: string | undefined }): Rule[] {
  const overrides: RuleOverrides = {};
  if (source.rulesFile) Object.assign(overrides, parseOverrides(readRulesFile(source.rulesFile), `RULES_FILE (${source.rulesFile})`));
  if (source.rulesJson) Object.assign(overrides, parseOverrides(source.rulesJson, "RULES_JSON"));
  try {
    return buildRules(overrides);
  } catch (error) {
    if (error instanceof RulesError) throw new ConfigError(error.problems, { cause: error });
    throw error;
  }
}

function readRulesFile(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError([`RULES_FILE=${JSON.stringify(path)} cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)}); point it at a JSON file of rule overrides`], { cause: error });
  }
}

function parseOverrides(text: string, where: string): RuleOverrides {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError([`${where} is not valid JSON: ${(error as Error).message}`], { cause: error });
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError([`${where} must be a JSON object keyed by status name, e.g. {"ProcessingInProgress": {"stuckAfter": "PT6H"}}`]);
  }
  const record = parsed as Record<string, unknown>;
  const keys = Object.keys(record);
  if (keys.length === 1 && keys[0] === "rules") return record.rules as RuleOverrides;
  return record;
}
