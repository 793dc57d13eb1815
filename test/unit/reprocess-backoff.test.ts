// The retry schedule of an accepted reprocess request: it must outlast an outage of an hour.
import { describe, expect, it } from "vitest";
import { REPROCESS_ATTEMPTS, REPROCESS_BACKOFF, reprocessBackoffStrategy, reprocessRetryDelayMs } from "../../src/reprocess/reprocess-queue.js";

const waits = Array.from({ length: REPROCESS_ATTEMPTS - 1 }, (_, i) => reprocessRetryDelayMs(i + 1));

describe("the reprocess retry schedule", () => {
  it("doubles from 1 s and is capped at 5 min", () => {
    expect(waits.slice(0, 11)).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300].map((s) => s * 1000));
    expect(Math.max(...waits)).toBe(300_000);
  });

  it("spans more than an hour between the first attempt and the last (an outage of an hour is survived), and under two", () => {
    const totalMs = waits.reduce((a, b) => a + b, 0);
    expect(totalMs).toBe(4_711_000); // 78.5 min
    expect(totalMs).toBeGreaterThanOrEqual(3_600_000);
    expect(totalMs).toBeLessThan(2 * 3_600_000);
  });

  it("is what the worker's strategy answers for the job's backoff type", () => {
    expect(REPROCESS_BACKOFF.type).not.toMatch(/^(fixed|exponential)$/); // a built-in name would bypass the strategy
    expect([1, 2, 10, 23].map((n) => reprocessBackoffStrategy(n, REPROCESS_BACKOFF.type))).toEqual([1000, 2000, 300_000, 300_000]);
  });
});
