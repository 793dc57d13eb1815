// What every command needs: validated configuration, the rules, a logger. A bad setting ends the
// command with the message and exit code 1, before anything connects anywhere.
import { loadConfig } from "../platform/config/load-config.js";
import { loadRules } from "../rules/load-rules.js";
import type { Config } from "../platform/config/settings.js";
import type { Rule } from "../rules/rules.js";
import { createLogger } from "../platform/logger.js";

export class CliError extends Error {
  override name = "CliError";
  constructor(message: string, readonly exitCode = 1, options?: ErrorOptions) {
    super(message, options);
  }
}

export function loadContext(): { config: Config; rules: Rule[]; logger: ReturnType<typeof createLogger> } {
  const config = loadConfig();
  const rules = loadRules(config);
  const logger = createLogger({ level: config.logLevel, pretty: config.logPretty });
  return { config, rules, logger };
}
