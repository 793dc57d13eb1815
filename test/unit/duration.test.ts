import { describe, expect, it } from "vitest";
import { formatDuration, parsePositiveDuration } from "../../src/domain/duration.js";

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
