import { readFileSync } from "node:fs";
import { buildRulesFromLayers, RulesError, type Rule, type RulesLayer } from "./rules.js";
import { ConfigError } from "../platform/config/load-config.js";
import { parseStrictJson } from "../platform/strict-json.js";

/**
 * The effective rules: defaults, then RULES_FILE, then RULES_JSON, each overriding only the fields
 * it names. A rules file may be the rules object itself or `{ "rules": { … } }`. Any problem stops
 * start-up with a ConfigError naming the source and the rule.
 */
export function loadRules(source: { rulesFile?: string | undefined; rulesJson?: string | undefined }): Rule[] {
  const layers: RulesLayer[] = [];
  if (source.rulesFile) layers.push({ source: `RULES_FILE (${source.rulesFile})`, overrides: parseJson(readRulesFile(source.rulesFile), `RULES_FILE (${source.rulesFile})`) });
  if (source.rulesJson) layers.push({ source: "RULES_JSON", overrides: parseJson(source.rulesJson, "RULES_JSON") });
  try {
    return buildRulesFromLayers(layers);
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

function parseJson(text: string, where: string): unknown {
  const parsed = parseStrictJson(text);
  if (!parsed.ok) throw new ConfigError([`${where} is not valid JSON: ${parsed.error}`]);
  return parsed.value;
}
