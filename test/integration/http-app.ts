// Starts the whole worker in-process (startWatchdog) on free ports (API and ops listeners) with its own queue prefix;
// shared by the http-* and metrics* test files. Not a test file itself.
import { Writable } from "node:stream";
import { startWatchdog, type Watchdog } from "../../src/app.js";
import { buildRules, type Rule } from "../../src/rules/rules.js";
import { createLogger } from "../../src/platform/logger.js";
import { testConfig } from "../support/config.js";
import { deletePrefix, uniquePrefix } from "../support/redis.js";

export const ORG_7_TOKEN = "org7-token-0123456789abcdefghij";
export const ORG_8_TOKEN = "org8-token-0123456789abcdefghij";
export const BOARD_USER = "ops";
export const BOARD_PASSWORD = "board-password-ZQ93";

export interface RunningApp {
  watchdog: Watchdog;
  /** The external API listener. */
  apiUrl: string;
  /** The ops listener: health, metrics, Bull Board. */
  opsUrl: string;
  prefix: string;
  /** Everything the app logged (JSON lines), when started with `captureLogs`. */
  logs(): string;
  stop(): Promise<void>;
}

/** With `prefix` (another app's), the two act as replicas of one deployment. */
export async function startApp(env: Record<string, string> = {}, options: { captureLogs?: boolean; prefix?: string; rules?: Rule[] } = {}): Promise<RunningApp> {
  const prefix = options.prefix ?? uniquePrefix();
  let captured = "";
  const destination = new Writable({
    write(chunk, _encoding, done) {
      captured += String(chunk);
      done();
    },
  });
  const config = testConfig(prefix, { API_TOKENS: `${ORG_7_TOKEN}:7,${ORG_8_TOKEN}:8`, BULL_BOARD_USER: BOARD_USER, BULL_BOARD_PASSWORD: BOARD_PASSWORD, ...env });
  const logger = createLogger(options.captureLogs ? { level: "debug", destination } : { level: "silent" });
  const watchdog = await startWatchdog(config, options.rules ?? buildRules(), logger);
  return {
    watchdog,
    apiUrl: watchdog.apiUrl,
    opsUrl: watchdog.opsUrl,
    prefix,
    logs: () => captured,
    async stop() {
      await watchdog.close();
      await deletePrefix(prefix);
    },
  };
}

export const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

/** One sample of a metric from a Prometheus text exposition, or undefined when absent. */
export function sample(exposition: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of exposition.split("\n")) {
    if (line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = (match[2] ?? "").split(",").filter(Boolean);
    if (wanted.length === have.length && wanted.every((w) => have.includes(w))) return Number(match[3]);
  }
  return undefined;
}
