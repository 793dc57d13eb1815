// `watchdog status`: is the watchdog acting? What is paused (PostgreSQL), what the last sweep held
// and whether sweeps are overdue (Redis, shared by every replica). Read-only; a human table or --json.
import type { Config } from "../../platform/config/settings.js";
import { createDb } from "../../platform/db/client.js";
import { findPauses } from "../../sweep/sql/find-pauses.js";
import { describePause, type Pause } from "../../sweep/pause.js";
import { formatDuration } from "../../rules/duration.js";
import { readLastSweepCompletedMs, readLastSweepHeld, redisNowMs } from "../../sweep/last-sweep.js";
import { withTimeout } from "../../platform/deadline.js";
import { createRedis } from "../../platform/redis.js";
import { table } from "../format.js";
import { CliError } from "../context.js";

/** Ended pauses shown besides the ones in force: enough to answer "who resumed it, when?". */
const RECENT_PAUSES = 5;
const REDIS_TIMEOUT_MS = 5000;

export async function printStatus(config: Config, json: boolean): Promise<void> {
  const db = createDb(config.databaseUrl, { max: 1, statementTimeoutMs: config.databaseStatementTimeoutMs, connectTimeoutMs: config.databaseConnectTimeoutMs });
  // One attempt per command: a CLI must not wait for a Redis that is not there. On a Redis Cluster,
  // the cluster (REDIS_URL's host is not used there: it would read no sweep at all).
  const redis = createRedis(config.redisUrl, { clusterNodes: config.redisClusterNodes, maxRetriesPerRequest: 1, retryStrategy: () => null, lazyConnect: true });
  redis.on("error", () => undefined); // reported below, once, as the command's failure
  try {
    const [{ now }] = (await db.$queryRaw<{ now: Date }[]>`SELECT now() AS now`) as [{ now: Date }];
    const pauses = await findPauses(db, RECENT_PAUSES);
    let lastMs: number | null;
    let redisNow: number;
    let held: Record<string, { stuck: number; limit: number }>;
    try {
      await withTimeout(REDIS_TIMEOUT_MS, "redis", redis.connect());
      [lastMs, redisNow, held] = await withTimeout(REDIS_TIMEOUT_MS, "redis", Promise.all([readLastSweepCompletedMs(redis, config.queuePrefix), redisNowMs(redis), readLastSweepHeld(redis, config.queuePrefix)]));
    } catch (error) {
      throw new CliError(`cannot read the last sweep from Redis (REDIS_URL): ${(error as Error).message}`);
    }
    const overdueAfterMs = config.sweepOverdueAfterMs ?? 3 * config.sweepIntervalMs;
    const sinceMs = lastMs === null ? null : Math.max(0, redisNow - lastMs);
    const report = {
      at: now.toISOString(),
      acting: pauses.open.length === 0 && Object.keys(held).length === 0 && sinceMs !== null && sinceMs <= overdueAfterMs,
      paused: pauses.open.map(describePause),
      held,
      lastSweep: {
        completedAt: lastMs === null ? null : new Date(lastMs).toISOString(),
        secondsAgo: sinceMs === null ? null : Math.round(sinceMs / 1000),
        overdueAfterSeconds: Math.round(overdueAfterMs / 1000),
        // Nothing recorded (a fresh deployment, or a flushed Redis) counts as overdue here: no sweep is known to work.
        overdue: sinceMs === null || sinceMs > overdueAfterMs,
      },
      recentPauses: pauses.recent.map(ended),
    };
    if (json) {
      console.log(JSON.stringify(report, null, 2));
      return;
    }
    console.log(human(report));
  } finally {
    redis.disconnect();
    await db.$disconnect();
  }
}

const ended = (p: Pause) => ({ ...describePause(p), ended: p.endedHow, endedAt: p.endedAt?.toISOString() ?? null, endedBy: p.endedBy });

function human(r: {
  at: string;
  acting: boolean;
  paused: ReturnType<typeof describePause>[];
  held: Record<string, { stuck: number; limit: number }>;
  lastSweep: { completedAt: string | null; secondsAgo: number | null; overdueAfterSeconds: number; overdue: boolean };
  recentPauses: ReturnType<typeof ended>[];
}): string {
  const out: string[] = [];
  out.push(r.acting ? `Acting: sweeps complete and nothing is paused or held (${r.at}, database clock).` : `Not acting fully: ${whyNotActing(r).join("; ")} (${r.at}, database clock).`);
  if (r.paused.length > 0) {
    out.push("", "Paused (watchdog resume [--rule <status>] --by <name> lifts it):");
    out.push(table(["rule", "by", "since", "until", "reason"], r.paused.map((p) => [p.rule, p.by, p.since, p.until ?? "resumed", p.reason])));
  } else {
    out.push("", "Paused: nothing.");
  }
  const held = Object.entries(r.held);
  if (held.length > 0) {
    out.push("", "Held by the last sweep (too many stuck at once, or reverted lately; watchdog sweep --release <status> --by <name> after checking):");
    const rateOf = (h: object) => (h as { rate?: { reverts: number; limit: number; window: string } }).rate;
    out.push(
      table(
        ["status", "stuck", "limit", "rate hold"],
        held.map(([status, h]) => {
          const rate = rateOf(h);
          return [status, `${(h as { atLeast?: boolean }).atLeast ? "≥ " : ""}${h.stuck}`, h.limit, rate ? `${rate.reverts} reverted in ${rate.window}, limit ${rate.limit}` : "-"];
        }),
      ),
    );
  } else {
    out.push("", "Held: nothing.");
  }
  const last = r.lastSweep;
  out.push(
    "",
    last.completedAt === null
      ? `Last sweep: none recorded in Redis (a fresh deployment, or Redis lost it): OVERDUE.`
      : `Last sweep: completed ${formatDuration(last.secondsAgo ?? 0)} ago at ${last.completedAt}${last.overdue ? ` — OVERDUE (more than ${formatDuration(last.overdueAfterSeconds)})` : ""}.`,
  );
  if (r.recentPauses.length > 0) {
    out.push("", "Recent pauses:");
    out.push(table(["rule", "by", "since", "ended", "how", "ended by", "reason"], r.recentPauses.map((p) => [p.rule, p.by, p.since, p.endedAt ?? "-", p.ended ?? "-", p.endedBy ?? "-", p.reason])));
  }
  return out.join("\n");
}

/** The reasons, in the order of the sections below. */
function whyNotActing(r: Parameters<typeof human>[0]): string[] {
  const rules = r.paused.map((p) => (p.rule === "all" ? "every rule" : p.rule));
  return [
    ...(rules.length > 0 ? [`paused (${rules.join(", ")})`] : []),
    ...(Object.keys(r.held).length > 0 ? [`held by the last sweep (${Object.keys(r.held).join(", ")})`] : []),
    ...(r.lastSweep.completedAt === null ? ["no sweep recorded"] : r.lastSweep.overdue ? ["sweeps overdue"] : []),
  ];
}
