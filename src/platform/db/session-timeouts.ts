// The worker's lock_timeout, statement_timeout and idle_in_transaction_session_timeout travel as
// start-up `options` of each connection (src/platform/db/client.ts). A pooler in transaction mode
// (PgBouncer) cannot pass those on and drops them (ignore_startup_parameters = options): the
// worker would then run without them — a statement could wait on a lock forever. Checked once at
// start; when they are off, one warning says where to set them instead. Never throws.
import type { Logger } from "pino";
import type { Db } from "./client.js";

export async function warnWhenTimeoutsAreOff(db: Db, logger: Logger): Promise<void> {
  try {
    const [row] = await db.$queryRaw<{ lock_timeout: string; statement_timeout: string; idle_in_transaction_session_timeout: string }[]>`
      SELECT current_setting('lock_timeout') AS lock_timeout, current_setting('statement_timeout') AS statement_timeout,
             current_setting('idle_in_transaction_session_timeout') AS idle_in_transaction_session_timeout`;
    const off = Object.entries(row ?? {}).filter(([, value]) => value === "0").map(([name]) => name);
    if (off.length === 0) return;
    logger.warn(
      { off },
      "PostgreSQL timeouts are off on the worker's connections: a pooler (PgBouncer in transaction mode) dropped the start-up options; set them on the role, e.g. ALTER ROLE … SET statement_timeout = '30s' (docs/configuration.md, Database timeouts)",
    );
  } catch {
    // A database that does not answer is reported by the readiness check and every statement.
  }
}
