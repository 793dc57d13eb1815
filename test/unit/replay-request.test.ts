// The time range of a webhook replay (`--since` / `--until`, the console's form, the ops endpoint):
// the instants a replay selects must not depend on the time zone of the machine that reads them (an
// operator's laptop running the CLI, a worker with TZ set), and a date that does not exist is refused
// rather than rolled over into another one.
import { afterEach, describe, expect, it } from "vitest";
import { replayInputSchema } from "../../src/outbox/replay-request.js";

const zone = process.env.TZ;
afterEach(() => {
  if (zone === undefined) delete process.env.TZ;
  else process.env.TZ = zone;
});

const range = (since: string, until = "2027-01-01T00:00:00Z") => {
  const parsed = replayInputSchema.safeParse({ organization: 7, since, until, by: "alice", reason: "r" });
  if (!parsed.success) return { error: parsed.error.issues.map((i) => `${i.path.join(".")} ${i.message}`).join("; ") };
  const selection = parsed.data.selection as { since: Date };
  return { since: selection.since.toISOString() };
};

describe("a replay's time range", () => {
  it("reads a time without an offset as UTC (what the console's form says), on a machine in any time zone", () => {
    for (const tz of ["UTC", "America/New_York", "Asia/Kolkata"]) {
      process.env.TZ = tz;
      expect(range("2026-12-01T10:00:00"), tz).toEqual({ since: "2026-12-01T10:00:00.000Z" });
      expect(range("2026-12-01T10:00"), tz).toEqual({ since: "2026-12-01T10:00:00.000Z" });
      expect(range("2026-12-01"), tz).toEqual({ since: "2026-12-01T00:00:00.000Z" });
      expect(range("2026-12-01T10:00:00Z"), tz).toEqual({ since: "2026-12-01T10:00:00.000Z" });
      expect(range("2026-12-01T10:00:00.5+01:00"), tz).toEqual({ since: "2026-12-01T09:00:00.500Z" });
    }
  });

  it("refuses a date or a time that does not exist instead of rolling it over", () => {
    for (const since of ["2026-02-30T10:00:00Z", "2026-02-29", "2026-13-01", "2026-12-01T24:00:00Z", "2026-12-01T10:60:00Z", "2026-12-01T10"]) {
      expect(range(since), since).toEqual({ error: expect.stringMatching(/^since must be an ISO-8601 time such as 2026-12-04T10:00:00Z/) });
    }
    expect(range("2028-02-29", "2028-03-01T00:00:00Z")).toEqual({ since: "2028-02-29T00:00:00.000Z" });
  });
});
