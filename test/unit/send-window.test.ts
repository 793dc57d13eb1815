// The send window of one organization's page (src/outbox/send-window.ts): one task's events one
// after the other in order, never more than AHEAD_WIDTHS (4) × width events past the last written position, the
// first failure stops new requests and is reported with the gap-free prefix before it.
import { describe, expect, it } from "vitest";
import { AHEAD_WIDTHS, sendInWindow } from "../../src/outbox/send-window.js";
import { mulberry32 } from "../support/prng.js";

const rows = (tasks: number[]) => tasks.map((task_id, i) => ({ task_id, i }));
const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("sendInWindow", () => {
  it("sends one task's events one after the other, in page order, while other tasks' overlap", async () => {
    const random = mulberry32(7);
    const page = rows(Array.from({ length: 60 }, () => 1 + Math.floor(random() * 5)));
    const running = new Set<number>();
    const order = new Map<number, number[]>();
    let overlap = 0;
    const result = await sendInWindow(page, 4, {
      send: async (row) => {
        expect(running.has(row.task_id), `task ${row.task_id} sent twice at once`).toBe(false);
        running.add(row.task_id);
        overlap = Math.max(overlap, running.size);
        order.set(row.task_id, [...(order.get(row.task_id) ?? []), row.i]);
        await tick(random() * 3);
        running.delete(row.task_id);
        return { ok: true };
      },
      commit: async () => true,
      halted: () => false,
    });
    expect(result).toEqual({ prefix: 60 });
    for (const [task, indexes] of order) expect(indexes, `task ${task}`).toEqual([...indexes].sort((a, b) => a - b));
    expect(overlap).toBeGreaterThan(1);
  });

  it("starts no event more than 4 × width past the last position written, and up to that many before any is written", async () => {
    expect(AHEAD_WIDTHS).toBe(4); // docs/events.md promises it: a kill -9 re-sends at most that many per organization
    const page = rows(Array.from({ length: 40 }, (_, i) => i));
    let written = 0;
    let started = 0;
    let worst = 0;
    const pendingWrites: (() => void)[] = [];
    const run = sendInWindow(page, 3, {
      send: async (row) => {
        started += 1;
        worst = Math.max(worst, row.i + 1 - written);
        return { ok: true };
      },
      // Positions are written only when the test says so.
      commit: (prefix) => new Promise((resolve) => pendingWrites.push(() => ((written = Math.max(written, prefix)), resolve(true)))),
      halted: () => false,
    });
    await tick(20);
    expect(started).toBe(12); // the window is full; nothing was written
    while (started < 40 || pendingWrites.length > 0) {
      pendingWrites.splice(0).forEach((write) => write());
      await tick(1);
    }
    expect(await run).toEqual({ prefix: 40 });
    expect(worst).toBe(12);
  });

  it("when an event fails, starts no new request, and reports the failure and the gap-free prefix", async () => {
    const page = rows(Array.from({ length: 30 }, (_, i) => i));
    const sent: number[] = [];
    const result = await sendInWindow(page, 4, {
      send: async (row) => {
        sent.push(row.i);
        await tick(1);
        return row.i === 9 ? { ok: false, reason: "answered 503" } : { ok: true };
      },
      commit: async () => true,
      halted: () => false,
    });
    expect(result.failure).toEqual({ index: 9, reason: "answered 503" });
    expect(result.prefix).toBeLessThanOrEqual(9);
    expect(Math.max(...sent)).toBeLessThan(9 + AHEAD_WIDTHS * 4);
  });

  it("when a position cannot be written, stops the page", async () => {
    const page = rows(Array.from({ length: 30 }, (_, i) => i));
    let sent = 0;
    const result = await sendInWindow(page, 2, {
      send: async () => ((sent += 1), { ok: true }),
      commit: async () => false,
      halted: () => false,
    });
    expect(result.failure).toBeUndefined();
    expect(sent).toBeLessThanOrEqual(AHEAD_WIDTHS * 2);
    expect(result.prefix).toBeLessThan(30);
  });
});
