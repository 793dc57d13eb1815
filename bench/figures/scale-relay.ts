// Scale figure "relay": the outbox (runOutbox: dispatch, leases, per-organization delivery) with
// 10,010 organizations that have an endpoint, over a task_events table that already holds 1M
// delivered events (100k with --quick), delivering to a local HTTP receiver.
//  - relay-latency: a big organization commits a 50,000-event burst (5,000 with --quick) in
//    batches of 1,000, and right after it a small organization commits one event: how long until
//    the small organization's event arrives. Again while a transaction holding an event stays open
//    elsewhere for 60 s (15 s with --quick). Baseline: the same with 10 organizations.
//  - relay-db-time: the database time (pg_stat_database.active_time of the figure's own database)
//    from committing the same 1,000 new events (100 for each of 10 organizations) until all are
//    delivered, plus five idle relay rounds: with 10,010 organizations vs with 10.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { limitFigure, median, ratioFigure, type Figure } from "../measure.js";
import { defineScaleFigure } from "../scale-figure.js";
import { burst, benchOutboxSettings, startOutboxAfresh, startScaleReceiver } from "../outbox-fixture.js";

const ORGANIZATIONS = 10_010;
const BIG = 1;
const SMALL = 5_005;
const POLL_MS = 1000;

async function oneEvent(pool: pg.Pool, organizationId: number): Promise<string> {
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO task_events (task_id, organization_id, workspace_id, kind, from_status, to_status, reason, actor)
     VALUES (1, $1, 1, 'REPROCESSED', 42, 30, 'bench small organization', 'bench') RETURNING 'evt_' || id AS id`,
    [organizationId],
  );
  return rows[0]!.id;
}

async function activeTimeMs(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ ms: number }>(`SELECT active_time::float8 AS ms FROM pg_stat_database WHERE datname = current_database()`);
  return rows[0]!.ms;
}

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export default defineScaleFigure({
  covers: ["relay-latency", "relay-db-time"],
  title: "webhook relay: 10,010 organizations with endpoints vs 10, a big organization's burst, a transaction held open",
  async run(ctx) {
    const delivered = ctx.quick ? 100_000 : 1_000_000;
    const burstSize = ctx.quick ? 5_000 : 50_000;
    const holdMs = ctx.quick ? 15_000 : 60_000;
    const pool = new pg.Pool({ connectionString: ctx.databaseUrl, max: 4 });
    const receiver = await startScaleReceiver();
    const secret = `whsec_${randomBytes(32).toString("base64")}`;
    const endpointsOf = (n: number) =>
      Array.from({ length: n }, (_, i) => (n === ORGANIZATIONS ? i + 1 : [BIG, SMALL, 2, 3, 4, 5, 6, 7, 8, 9][i]!)).map((organizationId) => ({ organizationId, url: receiver.url(organizationId), secret }));
    try {
      const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM task_events`);
      if (rows[0]!.n < delivered) {
        ctx.log(`seeding ${delivered.toLocaleString()} delivered events over ${ORGANIZATIONS.toLocaleString()} organizations`);
        await pool.query(`TRUNCATE task_events, task_event_requests, outbox_cursors`);
        await pool.query(
          `INSERT INTO task_events (task_id, organization_id, workspace_id, kind, from_status, to_status, reason, actor, sweep_id, created_at)
           SELECT g, 1 + g % ${ORGANIZATIONS}, 1 + g % 100, 'AUTO_REVERTED', 41, 42, 'seeded, delivered long ago', 'watchdog', 'seed', now() - interval '1 day'
           FROM generate_series(1, $1::int) g`,
          [delivered],
        );
        await pool.query(`VACUUM (ANALYZE) task_events`);
      }

      /** Starts an outbox for `n` organizations whose positions are now (everything so far is delivered). */
      const start = (n: number) => startOutboxAfresh(pool, benchOutboxSettings(ctx.databaseUrl, { outboxPollIntervalMs: POLL_MS }), endpointsOf(n));

      const latency = async (n: number, held: boolean) => {
        const outbox = await start(n);
        const hold = held ? await pool.connect() : undefined;
        try {
          if (hold) {
            await hold.query(`BEGIN`);
            await hold.query(`INSERT INTO task_events (task_id, organization_id, workspace_id, kind, from_status, reason, actor) VALUES (1, 2, 1, 'FLAGGED', 41, 'held open', 'bench')`);
          }
          const startedHold = performance.now();
          await burst(pool, BIG, burstSize);
          const id = await oneEvent(pool, SMALL);
          const committed = performance.now();
          const arrived = receiver.arrival(id);
          const ms = (await Promise.race([arrived, settle(120_000).then(() => Number.NaN)])) - committed;
          if (hold) {
            // Held for the whole stretch, as an analyst's forgotten psql session would be.
            const left = holdMs - (performance.now() - startedHold);
            if (left > 0) await settle(left);
            await hold.query(`COMMIT`);
          }
          ctx.log(`${n.toLocaleString()} organizations${held ? `, a transaction open ${holdMs / 1000} s` : ""}: the small organization's event arrived ${Math.round(ms)} ms after its commit (${receiver.count().toLocaleString()} delivered so far)`);
          return ms;
        } finally {
          hold?.release();
          await outbox.close();
        }
      };

      const dbTime = async (n: number) => {
        const outbox = await start(n);
        try {
          await settle(3 * POLL_MS); // its start-up statements are not the round's
          const before = await activeTimeMs(pool);
          const from = receiver.count();
          for (const organizationId of endpointsOf(10).map((e) => e.organizationId)) await burst(pool, organizationId, 100);
          const deadline = Date.now() + 60_000;
          while (receiver.count() - from < 1000 && Date.now() < deadline) await settle(20);
          await settle(5 * POLL_MS); // five idle rounds; backends flush their statistics within a second of going idle
          const ms = (await activeTimeMs(pool)) - before;
          ctx.log(`${n.toLocaleString()} organizations: ${ms.toFixed(0)} ms of database time for 1,000 new events and five idle rounds`);
          return ms;
        } finally {
          await outbox.close();
        }
      };

      const figures: Figure[] = [];
      const plain = { big: [] as number[], small: [] as number[] };
      const held = { big: [] as number[], small: [] as number[] };
      for (let rep = 0; rep < Math.min(ctx.reps, 3); rep++) {
        plain.big.push(await latency(ORGANIZATIONS, false));
        plain.small.push(await latency(10, false));
      }
      held.big.push(await latency(ORGANIZATIONS, true));
      held.small.push(await latency(10, true));
      const k = `${(burstSize / 1000).toLocaleString()}k`;
      figures.push(limitFigure(`small organization's event delivered after its commit, during a ${k}-event burst, 10,010 organizations vs 10`, "ms", Math.max(...plain.big), Math.max(...plain.small), 10_000));
      figures.push(limitFigure(`the same with a transaction held open elsewhere for ${holdMs / 1000} s, 10,010 organizations vs 10`, "ms", held.big[0]!, held.small[0]!, 10_000));

      const times = { big: [] as number[], small: [] as number[] };
      for (let rep = 0; rep < ctx.reps; rep++) {
        for (const n of rep % 2 === 0 ? [ORGANIZATIONS, 10] : [10, ORGANIZATIONS]) (n === 10 ? times.small : times.big).push(await dbTime(n));
      }
      figures.push(ratioFigure(`relay database time for 1,000 new events + 5 idle rounds: 10,010 organizations vs 10`, "ms", median(times.big), median(times.small), "atMost", 2));
      return figures;
    } finally {
      await receiver.close();
      await pool.end();
    }
  },
});
