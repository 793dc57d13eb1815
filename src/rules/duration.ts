import { Duration } from "luxon";
import { z } from "zod";

/** A duration bound, as people write it and in seconds. */
export interface DurationBound {
  readonly text: string;
  readonly seconds: number;
}

/**
 * Seconds in a positive ISO-8601 duration ("PT2H", "P1D", "PT90M"), or what is wrong with it.
 * The message never repeats the value (the caller says what was received, next to its name).
 * Months and years are refused: their length depends on the calendar. With `max`, longer is refused.
 */
export function parsePositiveDuration(text: unknown, max?: DurationBound): { seconds: number } | { error: string } {
  if (typeof text !== "string" || text.trim() === "") {
    return { error: `must be an ISO-8601 duration such as "PT30M", "PT2H" or "P1D"` };
  }
  // Luxon reads a sign on each part ("PT1H-1S": 59 min 59 s); ISO-8601 has none there (a leading "-" is
  // the whole duration's, refused below as not positive).
  if (/[-+]/.test(text.trim().slice(1))) {
    return { error: `has a part with a sign ("-" or "+"); write every part as a plain number, e.g. "PT59M59S"` };
  }
  const duration = Duration.fromISO(text.trim());
  if (!duration.isValid) {
    return { error: `is not an ISO-8601 duration; write e.g. "PT30M", "PT2H" or "P1D"` };
  }
  if (duration.months !== 0 || duration.years !== 0 || duration.quarters !== 0) {
    return { error: `uses months or years, whose length varies; use days, e.g. "P30D"` };
  }
  const seconds = duration.as("seconds");
  if (!(seconds >= 1)) {
    return { error: `must be at least one second long` };
  }
  if (max && seconds > max.seconds) {
    return { error: `must be at most ${max.text} (${max.seconds} s)` };
  }
  return { seconds: Math.round(seconds) };
}

/** The zod form of parsePositiveDuration: a string in, whole seconds out. */
export function durationSeconds(max?: DurationBound) {
  return z.string().transform((text, ctx) => {
    const parsed = parsePositiveDuration(text, max);
    if ("error" in parsed) {
      ctx.issues.push({ code: "custom", message: parsed.error, input: text });
      return z.NEVER;
    }
    return parsed.seconds;
  });
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

/** "PT1M", "PT30S", "PT1H30M", "P2D": the ISO-8601 spelling of whole seconds, for help texts and output. */
export function isoDuration(totalSeconds: number): string {
  const s = Math.max(0, Math.floor(totalSeconds));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const time = `${h ? `${h}H` : ""}${m ? `${m}M` : ""}${sec ? `${sec}S` : ""}`;
  return `P${d ? `${d}D` : ""}${time ? `T${time}` : d ? "" : "T0S"}`;
}
