// Scale figure "slow-endpoints": what one replica delivers when the endpoints take their time. Each
// organization has a backlog that outlasts the measurement, and the receiver answers every request
// 200 ms after it arrived. The settings allow WEBHOOK_CONCURRENCY organizations at once, each with
// WEBHOOK_ENDPOINT_CONCURRENCY requests in flight, so one replica can deliver at most
// min(organizations, WEBHOOK_CONCURRENCY) × WEBHOOK_ENDPOINT_CONCURRENCY ÷ 0.2 s: the bound each
// figure is measured against (docs/configuration.md gives the same arithmetic to operators). Three
// cases: the defaults (16 × 4, 50 organizations: 320/s), WEBHOOK_CONCURRENCY raised to 50 (1,000/s;
// every organization on one host, so the connections per host must follow the settings), and one
// organization alone (20/s). The rate is counted at the receiver over a window that starts once the
// deliveries have ramped up; the requests in flight are sampled through it.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { infoFigure, median, ratioFigure, sample, type Figure } from "../measure.js";
import { defineScaleFigure } from "../scale-figure.js";
import { burst, benchOutboxSettings, startOutboxAfresh, startScaleReceiver } from "../outbox-fixture.js";

const ANSWER_MS = 200;
const ORGANIZATIONS = 50;
const ENDPOINT_CONCURRENCY = 4;

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export default defineScaleFigure({
  covers: ["slow-endpoints"],
  title: `webhook deliveries to endpoints answering in ${ANSWER_MS} ms: the defaults, WEBHOOK_CONCURRENCY raised, one organization`,
  async run(ctx) {
    const windowMs = ctx.quick ? 4_000 : 10_000;
    const rampMs = 2_000;
    // Enough that no organization runs out within the ramp and the window at 20 events/s.
    const backlog = Math.ceil(((rampMs + windowMs) / ANSWER_MS) * ENDPOINT_CONCURRENCY * 1.5);
    const pool = new pg.Pool({ connectionString: ctx.databaseUrl, max: 4 });
    const receiver = await startScaleReceiver({ delayMs: ANSWER_MS });
    const secret = `whsec_${randomBytes(32).toString("base64")}`;

    /** Deliveries per second over the window, and the median of the requests in flight sampled through it. */
    const measure = async (organizations: number, concurrency: number) => {
      await pool.query(`TRUNCATE task_events, task_event_requests, outbox_cursors`);
      const endpoints = Array.from({ length: organizations }, (_, i) => ({ organizationId: i + 1, url: receiver.url(i + 1), secret }));
      const outbox = await startOutboxAfresh(pool, benchOutboxSettings(ctx.databaseUrl, { webhookConcurrency: concurrency, webhookEndpointConcurrency: ENDPOINT_CONCURRENCY }), endpoints);
      try {
        const from = receiver.count();
        for (const { organizationId } of endpoints) await burst(pool, organizationId, backlog);
        const deadline = Date.now() + 30_000;
        while (receiver.count() === from && Date.now() < deadline) await settle(10);
        await settle(rampMs);
        const inFlight: number[] = [];
        const started = performance.now();
        const before = receiver.count();
        while (performance.now() - started < windowMs) {
          inFlight.push(receiver.inFlight());
          await settle(20);
        }
        const rate = (receiver.count() - before) / ((performance.now() - started) / 1000);
        const bound = (Math.min(organizations, concurrency) * ENDPOINT_CONCURRENCY * 1000) / ANSWER_MS;
        ctx.log(`${organizations} organization(s), WEBHOOK_CONCURRENCY ${concurrency}: ${rate.toFixed(0)} deliveries/s (the settings allow ${bound}/s), ${median(inFlight)} requests in flight`);
        return { rate, inFlight: median(inFlight), bound };
      } finally {
        await outbox.close();
      }
    };

    const cases = [
      { label: `${ORGANIZATIONS} organizations at the defaults (WEBHOOK_CONCURRENCY 16 × WEBHOOK_ENDPOINT_CONCURRENCY 4)`, organizations: ORGANIZATIONS, concurrency: 16 },
      { label: `${ORGANIZATIONS} organizations on one host, WEBHOOK_CONCURRENCY raised to 50`, organizations: ORGANIZATIONS, concurrency: 50 },
      { label: "one organization alone", organizations: 1, concurrency: 16 },
    ];
    try {
      const results = cases.map(() => ({ rate: [] as number[], inFlight: [] as number[], bound: 0 }));
      for (let rep = 0; rep < Math.min(ctx.reps, 3); rep++) {
        for (const [i, c] of cases.entries()) {
          const r = await measure(c.organizations, c.concurrency);
          results[i]!.rate.push(r.rate);
          results[i]!.inFlight.push(r.inFlight);
          results[i]!.bound = r.bound;
        }
      }
      const figures: Figure[] = [];
      for (const [i, c] of cases.entries()) {
        const { rate, inFlight, bound } = results[i]!;
        figures.push(ratioFigure(`webhook deliveries, endpoints answering in ${ANSWER_MS} ms, ${c.label}: vs what the settings allow`, "events/s", sample(rate), bound, "atLeast", 0.9));
        figures.push(infoFigure(`the same, requests in flight at the receiver (median of samples) vs the settings' ${(bound * ANSWER_MS) / 1000}`, "requests", sample(inFlight), (bound * ANSWER_MS) / 1000));
      }
      return figures;
    } finally {
      await receiver.close();
      await pool.end();
    }
  },
});
