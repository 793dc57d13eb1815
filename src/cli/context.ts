// What every command needs: validated configuration, the rules, a logger. A bad setting ends the
// command with the message and exit code 1, before anything connects anywhere.
import { loadConfig } from "../config/load-config.js";
import { loadRules } from "../config/load-rules.js";
import type { Config } from "../config/settings.js";
import type { Rule } from "../domain/rules.js";
import { createLogger } from "../logger.js";

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
