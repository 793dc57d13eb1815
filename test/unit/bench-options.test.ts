// `npm run bench` options: the scale run's flags and how a scale figure file is named.
import { describe, expect, it } from "vitest";
import { parseOptions, UsageError } from "../../bench/options.js";
import { scaleFigureName } from "../../bench/scale-figure.js";
import { scaleFigureFiles } from "../../bench/scale.js";

describe("bench options", () => {
  it("when --scale is given, the scale run is chosen and writes its own results file", () => {
    expect(parseOptions(["--scale"], {})).toMatchObject({ scale: true, quick: false, only: null, reuseDb: false, out: "bench/results/scale.json" });
    expect(parseOptions(["--scale", "--quick", "--only", "status-list,relay", "--reuse-db"], {})).toMatchObject({
      scale: true,
      quick: true,
      only: ["status-list", "relay"],
      reuseDb: true,
      out: "bench/results/scale-quick.json",
    });
  });

  it("when --loaded is given, the run says so and writes a results file of its own, beside the quiet run's", () => {
    expect(parseOptions([], {})).toMatchObject({ loaded: false, out: "bench/results/latest.json" });
    expect(parseOptions(["--loaded"], {})).toMatchObject({ loaded: true, out: "bench/results/latest-loaded.json" });
    expect(parseOptions(["--scale", "--quick", "--loaded"], {})).toMatchObject({ loaded: true, out: "bench/results/scale-quick-loaded.json" });
  });

  it("when a scale-only option comes without --scale, it is refused by name", () => {
    expect(() => parseOptions(["--only", "status-list"], {})).toThrow(new UsageError("--only belongs to the scale run: add --scale"));
    expect(() => parseOptions(["--reuse-db"], {})).toThrow(/--reuse-db belongs to the scale run/);
  });

  it("a scale figure is a file bench/figures/scale-<name>.ts, found by its name", () => {
    expect(scaleFigureName("scale-status-list.ts")).toBe("status-list");
    expect(scaleFigureName("recovery.ts")).toBeUndefined();
    expect(scaleFigureFiles().map((f) => f.name)).toContain("status-list");
  });
});

describe("bench report", () => {
  it("a median over repetitions carries its spread into the table; a single value shows none", async () => {
    const { ratioFigure, sample } = await import("../../bench/measure.js");
    const { printTable } = await import("../../bench/report.js");
    const spread = ratioFigure("spread", "ms", sample([9, 10, 11]), sample([4, 5, 6]), "atMost", 3);
    expect(spread).toMatchObject({ project: 10, bound: 5, ratio: 2, met: true, spread: { project: [9, 11], bound: [4, 6] } });
    const single = ratioFigure("single", "ms", 10, 5, "atMost", 3);
    expect(single.spread).toBeUndefined();
    const table = printTable([spread, single]).split("\n");
    expect(table[0]).toContain("spread");
    expect(table[2]).toContain("±10% / ±20%");
    expect(table[3]).not.toContain("±");
  });
});
