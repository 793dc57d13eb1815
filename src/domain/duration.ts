import { Duration } from "luxon";

/**
 * Seconds in a positive ISO-8601 duration ("PT2H", "P1D", "PT90M"), or an error message that
 * says what was wrong. Months and years are refused: their length depends on the calendar.
 */
export function parsePositiveDuration(text: unknown): { seconds: number } | { error: string } {
  if (typeof text !== "string" || text.trim() === "") {
    return { error: `expected an ISO-8601 duration such as "PT2H", got ${JSON.stringify(text)}` };
  }
  const duration = Duration.fromISO(text.trim());
  if (!duration.isValid) {
    return { error: `"${text}" is not an ISO-8601 duration; write e.g. "PT30M", "PT2H" or "P1D"` };
  }
  if (duration.months !== 0 || duration.years !== 0 || duration.quarters !== 0) {
    return { error: `"${text}" uses months or years, whose length varies; use days, e.g. "P30D"` };
  }
  const seconds = duration.as("seconds");
  if (!(seconds >= 1)) {
    return { error: `"${text}" must be at least one second long` };
  }
  return { seconds: Math.round(seconds) };
}

/**
 * "3 h 12 min", "2 d 4 h", "45 min", "30 s": coarse on purpose, for people.
 * The SQL function watchdog_humanize_seconds (first migration) formats identically;
 * test/integration/humanize.test.ts holds the two together.
 */
export function formatDuration(totalSeconds: number): string {
  const s = Math.max(0, Math.floor(totalSeconds));
  if (s >= 86_400) {
    const hours = Math.floor((s % 86_400) / 3600);
    return `${Math.floor(s / 86_400)} d${hours > 0 ? ` ${hours} h` : ""}`;
  }
  if (s >= 3600) {
    const minutes = Math.floor((s % 3600) / 60);
    return `${Math.floor(s / 3600)} h${minutes > 0 ? ` ${minutes} min` : ""}`;
  }
  if (s >= 60) return `${Math.floor(s / 60)} min`;
  return `${s} s`;
}
