// What the benchmark's outbox figures share (bench/figures/webhooks.ts, scale-relay.ts,
// scale-slow-endpoints.ts): the outbox's settings as a deployment's defaults have them (read from
// the config loader, so a new setting needs no edit here); and for the scale figures, a receiver in
// the bench's own process (only the relay's scheduling is measured there, not its CPU) and an outbox
// started on positions that are "now", the hourly retention kept out.
import http from "node:http";
import type { AddressInfo } from "node:net";
import type pg from "pg";
import { pino } from "pino";
import { Registry } from "prom-client";
import { runOutbox, type OutboxSettings } from "../src/outbox/outbox.js";
import { loadConfig } from "../src/platform/config/load-config.js";
import type { WebhookEndpoint } from "../src/outbox/webhook-config.js";

/** The outbox's settings of a deployment that sets only DATABASE_URL (the config loader's defaults), with `overrides`. */
export function benchOutboxSettings(databaseUrl: string, overrides: Partial<OutboxSettings> = {}): OutboxSettings {
  return { ...loadConfig({ DATABASE_URL: databaseUrl }), ...overrides };
}

export interface ScaleReceiver {
  url: (organizationId: number) => string;
  /** Resolves when an event with this id (`evt_<id>`) arrives. */
  arrival(eventId: string): Promise<number>;
  /** Requests answered so far. */
  count: () => number;
  /** Requests received and not yet answered. */
  inFlight: () => number;
  close(): Promise<void>;
}

/** Answers every POST with 204, `delayMs` after its body arrived (an endpoint that takes its time). */
export async function startScaleReceiver(options: { delayMs?: number } = {}): Promise<ScaleReceiver> {
  const delayMs = options.delayMs ?? 0;
  let count = 0;
  let inFlight = 0;
  const waiting = new Map<string, (at: number) => void>();
  const server = http.createServer((req, res) => {
    const id = String(req.headers["webhook-id"] ?? "");
    inFlight += 1;
    req.resume();
    req.on("end", () => {
      const answer = () => {
        inFlight -= 1;
        count += 1;
        waiting.get(id)?.(performance.now());
        waiting.delete(id);
        res.writeHead(204).end();
      };
      if (delayMs > 0) setTimeout(answer, delayMs);
      else answer();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (organizationId) => `http://127.0.0.1:${port}/hooks/${organizationId}`,
    arrival: (eventId) => new Promise((resolve) => waiting.set(eventId, resolve)),
    count: () => count,
    inFlight: () => inFlight,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Inserts `n` events of `organizationId` in transactions of 1,000 (a recovery's batches). */
export async function burst(pool: pg.Pool, organizationId: number, n: number): Promise<void> {
  for (let done = 0; done < n; done += 1000) {
    await pool.query(
      `INSERT INTO task_events (task_id, organization_id, workspace_id, kind, from_status, to_status, reason, actor, sweep_id)
       SELECT g, $1, 1, 'AUTO_REVERTED', 41, 42, 'bench burst', 'watchdog', 'bench' FROM generate_series(1, $2::int) g`,
      [organizationId, Math.min(1000, n - done)],
    );
  }
}

/** An outbox whose positions are now (every event so far counts as delivered), its retention's hourly run kept off. */
export async function startOutboxAfresh(pool: pg.Pool, settings: OutboxSettings, endpoints: readonly WebhookEndpoint[]): Promise<Awaited<ReturnType<typeof runOutbox>>> {
  await pool.query(`TRUNCATE outbox_cursors`);
  // The retention's hourly run is not what is measured: its lease is taken for the figure's length.
  await pool.query(`INSERT INTO outbox_cursors (target, snap_from, lease_owner, lease_expires_at) VALUES ('retention', pg_current_snapshot()::text, 'bench', now() + interval '1 hour')`);
  return runOutbox({ settings, logger: pino({ level: "silent" }), registry: new Registry(), eventsQueue: null, endpoints });
}
