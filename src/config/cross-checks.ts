// Rules that involve more than one setting, checked after each setting parsed on its own.
import { isIP } from "node:net";
import type { Config } from "./settings.js";

/** 127.0.0.0/8, ::1 (also IPv4-mapped) and `localhost`: reachable from this machine only. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, "$1");
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  const v4 = h.startsWith("::ffff:") ? h.slice("::ffff:".length) : h;
  if (isIP(v4) === 4) return v4.startsWith("127.");
  if (isIP(h) === 6) return h === "::1" || /^(0{1,4}:){7}0{0,3}1$/.test(h);
  return false;
}

export function crossSettingProblems(config: Partial<Config>): string[] {
  const problems: string[] = [];
  const hasUser = config.bullBoardUser !== undefined;
  const hasPassword = config.bullBoardPassword !== undefined;
  if (hasUser !== hasPassword) {
    problems.push(`BULL_BOARD_USER and BULL_BOARD_PASSWORD go together: set both (Basic auth for /admin/queues) or neither`);
  } else if (!hasUser && config.host !== undefined && !isLoopbackHost(config.host)) {
    problems.push(
      `HOST=${JSON.stringify(config.host)} exposes the HTTP server beyond this machine, and Bull Board (/admin/queues) has no credentials: ` +
        `set BULL_BOARD_USER and BULL_BOARD_PASSWORD, or bind a loopback HOST (127.0.0.1, ::1, localhost)`,
    );
  }
  return problems;
}
