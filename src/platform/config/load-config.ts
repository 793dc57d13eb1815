import { SETTINGS, type Config, type Setting } from "./settings.js";
import { crossSettingProblems, retiredSettingProblems } from "./cross-checks.js";
import { formatIssues } from "../zod-issues.js";

export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(readonly problems: readonly string[], options?: ErrorOptions) {
    super(`invalid configuration:\n  - ${problems.join("\n  - ")}`, options);
  }
}

/**
 * The configuration from `env`, every problem reported at once. Each message names the variable,
 * what was given (never for a secret) and what is allowed. A variable set to nothing is refused
 * rather than read as unset: `PORT=` in a file of settings is more often a mistake than a wish.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = retiredSettingProblems(env);
  const config: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(SETTINGS) as [string, Setting][]) {
    const given = env[setting.env];
    if (given !== undefined && given.trim() === "") {
      problems.push(`${setting.env} is set but empty; unset it or give a value`);
      continue;
    }
    const raw = given ?? setting.default;
    if (raw === undefined) {
      config[key] = undefined;
      continue;
    }
    // The received value is shown once, in the label; never for a secret.
    const parsed = setting.schema.safeParse(raw);
    if (parsed.success) config[key] = parsed.data;
    else problems.push(...formatIssues(parsed.error, { label: `${setting.env}=${setting.secret ? "(value hidden)" : JSON.stringify(raw)}` }));
  }
  // Settings that go together are judged only once each is valid on its own (an invalid password is no missing one).
  if (problems.length === 0) problems.push(...crossSettingProblems(config as Partial<Config>));
  if (problems.length > 0) throw new ConfigError(problems);
  return config as Config;
}

/**
 * A connection string with its password replaced, for logs and errors: the one after the user and
 * any in the query (`?password=`, `?sslpassword=`: pg honours both).
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    for (const key of [...u.searchParams.keys()]) if (/password/i.test(key)) u.searchParams.set(key, "***");
    return u.toString();
  } catch {
    return "(unparseable URL)";
  }
}
