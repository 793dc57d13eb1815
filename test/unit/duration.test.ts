import { describe, expect, it } from "vitest";
import { formatDuration, isoDuration, parsePositiveDuration } from "../../src/rules/duration.js";

describe("parsePositiveDuration", () => {
  it.each([
    ["PT1S", 1],
    ["PT90M", 5400],
    ["PT2H", 7200],
    ["P1D", 86400],
    ["P1DT1H", 90000],
    [" PT24H ", 86400],
  ])("%s is %i s", (text, seconds) => {
    expect(parsePositiveDuration(text)).toEqual({ seconds });
  });

  it.each(["", "2h", "PT", "PT0S", "PT0.4S", "-PT1H", "P1Y", "P2M"])("refuses %j with a reason", (text) => {
    expect(parsePositiveDuration(text)).toHaveProperty("error");
  });

  it("refuses a part with a sign (luxon reads PT1H-1S as 59 min 59 s; ISO-8601 and the rules' JSON Schema have no such form)", () => {
    for (const text of ["PT1H-1S", "P1DT-23H", "PT+2H", "P1D-T1H"]) expect(parsePositiveDuration(text)).toEqual({ error: 'has a part with a sign ("-" or "+"); write every part as a plain number, e.g. "PT59M59S"' });
  });

  it("refuses a duration past the bound it is given, saying the bound", () => {
    expect(parsePositiveDuration("P30000D", { text: "P3650D", seconds: 3650 * 86_400 })).toEqual({ error: "must be at most P3650D (315360000 s)" });
    expect(parsePositiveDuration("P3650D", { text: "P3650D", seconds: 3650 * 86_400 })).toEqual({ seconds: 3650 * 86_400 });
  });

  it("never repeats the value in its message (the caller names it)", () => {
    expect(parsePositiveDuration("60")).toEqual({ error: 'is not an ISO-8601 duration; write e.g. "PT30M", "PT2H" or "P1D"' });
  });
});

describe("isoDuration", () => {
  it.each([
    [0, "PT0S"],
    [30, "PT30S"],
    [60, "PT1M"],
    [5400, "PT1H30M"],
    [86_400, "P1D"],
    [90_061, "P1DT1H1M1S"],
  ])("%i s is %s", (seconds, text) => {
    expect(isoDuration(seconds)).toBe(text);
  });
});

describe("formatDuration", () => {
  it.each([
    [0, "0 s"],
    [59, "59 s"],
    [60, "1 min"],
    [3599, "59 min"],
    [3600, "1 h"],
    [3660, "1 h 1 min"],
    [11_520, "3 h 12 min"],
    [86_399, "23 h 59 min"],
    [86_400, "1 d"],
    [187_200, "2 d 4 h"],
    [-5, "0 s"],
  ])("%i s reads %j", (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });
});
