import { SETTINGS, type Config, type Setting } from "./settings.js";
import { crossSettingProblems, retiredSettingProblems } from "./cross-checks.js";

export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(readonly problems: readonly string[], options?: ErrorOptions) {
    super(`invalid configuration:\n  - ${problems.join("\n  - ")}`, options);
  }
}

/**
 * The configuration from `env`, every problem reported at once. Each message names the variable,
 * what was given (never for a secret) and what is allowed.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = retiredSettingProblems(env);
  const config: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(SETTINGS) as [string, Setting<unknown>][]) {
    const given = env[setting.env];
    const raw = given === undefined || given === "" ? setting.default : given;
    if (raw === undefined) {
      config[key] = undefined;
      continue;
    }
    const parsed = setting.parse(raw);
    if ("error" in parsed) {
      const shown = setting.secret ? "(value hidden)" : JSON.stringify(raw);
      problems.push(`${setting.env}=${shown} ${parsed.error}`);
    } else {
      config[key] = parsed.value;
    }
  }
  problems.push(...crossSettingProblems(config as Partial<Config>));
  if (problems.length > 0) throw new ConfigError(problems);
  return config as Config;
}

/** A connection string with its password replaced, for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparseable URL)";
  }
}
