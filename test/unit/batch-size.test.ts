import { describe, expect, it } from "vitest";
import { adaptiveBatchSize, FIRST_BATCH_SIZE, fixedBatchSize, MIN_BATCH_SIZE } from "../../src/sweep/batch-size.js";

describe("the sweep's batch size", () => {
  it("starts small, grows to SWEEP_BATCH_SIZE while batches run well inside the budget, and stays there", () => {
    const sizing = adaptiveBatchSize(1000, 100);
    expect(sizing.size).toBe(FIRST_BATCH_SIZE);
    for (let i = 0; i < 12; i++) sizing.observe(20);
    expect(sizing.size).toBe(1000);
    sizing.observe(20);
    expect(sizing.size).toBe(1000);
    expect(adaptiveBatchSize(50, 100).size).toBe(50);
  });

  /** A sizing that has grown to its largest size. */
  const grown = () => {
    const sizing = adaptiveBatchSize(1000, 100);
    while (sizing.size < 1000) sizing.observe(1);
    return sizing;
  };

  it("when a batch runs past the budget, the next is shrunk in proportion, aiming under the budget", () => {
    const sizing = grown();
    sizing.observe(200); // twice the budget: half the size, and a little less
    expect(sizing.size).toBe(400);
    sizing.observe(90); // inside the budget, but not well inside: unchanged
    expect(sizing.size).toBe(400);
  });

  it("when batches run well inside the budget again, it grows back to SWEEP_BATCH_SIZE and no further", () => {
    const sizing = grown();
    sizing.observe(1000);
    expect(sizing.size).toBe(80);
    const sizes: number[] = [];
    for (let i = 0; i < 20; i++) {
      sizing.observe(10);
      sizes.push(sizing.size);
    }
    expect(sizes).toEqual([...sizes].sort((a, b) => a - b));
    expect(sizes.at(-1)).toBe(1000);
  });

  it("a batch at 40 % of the budget does not grow the next: room for a batch three times as slow as usual", () => {
    const sizing = adaptiveBatchSize(1000, 100);
    sizing.observe(40);
    expect(sizing.size).toBe(FIRST_BATCH_SIZE);
    sizing.observe(25);
    expect(sizing.size).toBeGreaterThan(FIRST_BATCH_SIZE);
  });

  it("never shrinks below the smallest batch, however slow", () => {
    const sizing = adaptiveBatchSize(1000, 100);
    sizing.observe(1_000_000);
    expect(sizing.size).toBe(MIN_BATCH_SIZE);
  });

  it("a batch cancelled by statement_timeout is retried at a quarter of the size, until the smallest, then given up", () => {
    const sizing = grown();
    const tries: number[] = [];
    while (sizing.timedOut(100)) tries.push(sizing.size);
    expect(tries).toEqual([250, 62, 15, 10]);
    expect(sizing.timedOut(100)).toBe(false);
  });

  it("every batch but one of the smallest size runs with 90 % of the budget as its statement timeout (the rest for BEGIN and the commit or rollback)", () => {
    const sizing = adaptiveBatchSize(1000, 100);
    expect(sizing.capMs).toBe(90);
    sizing.observe(1_000_000); // shrunk to the smallest: no cap but the worker's statement timeout, so the sweep moves on
    expect(sizing.size).toBe(MIN_BATCH_SIZE);
    expect(sizing.capMs).toBeNull();
    sizing.observe(1);
    expect(sizing.capMs).toBe(90);
    expect(adaptiveBatchSize(5, 100).capMs).toBeNull(); // SWEEP_BATCH_SIZE below the smallest batch
  });

  it("a fixed size never changes and never retries", () => {
    const sizing = fixedBatchSize(500);
    sizing.observe(10_000);
    expect(sizing.size).toBe(500);
    expect(sizing.timedOut(10_000)).toBe(false);
    expect(sizing.capMs).toBeNull();
  });
});
