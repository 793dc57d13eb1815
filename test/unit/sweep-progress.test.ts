import { describe, expect, it } from "vitest";
import { sweepProgress } from "../../src/sweep/sweep-progress.js";

const target = { statusName: "QueuedForProcessing", action: { kind: "revert" } };
const batch = (count: number) => [{ toStatus: 42, count, sampleTaskIds: [] }] as never;

describe("sweepProgress", () => {
  it("when the job cannot be written (Redis away), then the sweep goes on and the failure is logged once", async () => {
    const warnings: unknown[] = [];
    const job = {
      id: "7",
      updateProgress: () => Promise.reject(new Error("Connection is closed.")),
      log: () => {
        throw new Error("Connection is closed.");
      },
    };
    const progress = sweepProgress(job as never, { warn: (...args: unknown[]) => void warnings.push(args) } as never);
    expect(() => {
      progress.onBatch(target, batch(1000));
      progress.onBatch(target, batch(500));
    }).not.toThrow();
    await progress.flush();
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0])).toMatch(/could not report sweep progress/);
  });

  it("when the job never answers, then flush gives up within its bound", async () => {
    const job = { id: "8", updateProgress: () => new Promise(() => undefined), log: () => new Promise(() => undefined) };
    const progress = sweepProgress(job as never, { warn: () => undefined } as never);
    progress.onBatch(target, batch(1));
    const started = performance.now();
    await progress.flush();
    expect(performance.now() - started).toBeLessThan(3000);
  });
});
