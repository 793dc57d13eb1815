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
