// Every log line passes through scrubSecrets, so its time must grow with the line's length, not
// with its square: a pattern that backtracked over a long run of letters took an hour on a 2 MB
// line (a job's data in a failure message), at 100% CPU, the worker deaf to /healthz and SIGTERM.
// And it must redact exactly what the earlier pattern redacted: checked against that pattern on
// seeded random lines short enough for it to finish.
import { describe, expect, it } from "vitest";
import { scrubSecrets } from "../../src/platform/logger.js";
import { mulberry32 } from "../support/prng.js";

/** The URL-credentials pattern before it was made linear: the reference for what is redacted. */
const QUADRATIC_URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/[^\s:/@"']*:)(?:[^\s/"\\]|\\.)*@/gi;
const referenceScrub = (line: string) =>
  line
    .replace(QUADRATIC_URL_CREDENTIALS, "$1[redacted]@")
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/]{16,}=*/g, "$1 [redacted]")
    .replace(/whsec_[A-Za-z0-9+/=]+/g, "whsec_[redacted]");

/** Lines that made a pattern backtrack: runs of scheme characters, URLs without "@", lone keywords. */
const LONG_LINES: [string, (n: number) => string][] = [
  ["letters", (n) => "p".repeat(n)],
  ["letters and digits", (n) => "p1".repeat(n / 2)],
  ["a job's data in a message", (n) => `{"msg":"webhook replay attempt failed","err":{"message":"job data {\\"replayId\\":\\"x\\",\\"pad\\":\\"${"p".repeat(n)}\\"}"}}`],
  ["a URL without @", (n) => `redis://${"u".repeat(n)}`],
  ["a URL's password without @", (n) => `redis://user:${"p".repeat(n)}`],
  ["letters before ://", (n) => `${"a1".repeat(n / 2)}://u:p@h`],
  ["many URLs", (n) => "a://u:".repeat(n / 6)],
  ["a keyword and spaces", (n) => `Bearer${" ".repeat(n)}x`],
  ["webhook prefixes", (n) => "whsec_".repeat(n / 6)],
];

// Linear scrubbing takes a few milliseconds per million characters; the quadratic one took about a
// second at 40,000 and minutes at 1,000,000. Doubling the length up to a million, in 2 s in all,
// tells them apart with a margin of a hundred either way (and fails within seconds, not minutes).
const BUDGET_MS = 2000;

describe("scrubSecrets on long lines", () => {
  it.each(LONG_LINES)("%s: up to 1,000,000 characters, in linear time", (_name, make) => {
    const started = performance.now();
    for (let n = 1000; n <= 1_024_000; n *= 2) {
      const line = make(n);
      expect(scrubSecrets(line).length).toBeGreaterThan(0);
      const elapsed = performance.now() - started;
      expect(elapsed, `${line.length} characters scrubbed after ${Math.round(elapsed)} ms in all`).toBeLessThan(BUDGET_MS);
    }
  });

  it("still redacts a secret at the end of a long line", () => {
    const run = "p".repeat(50_000);
    const line = `${run} postgresql://app:s3cret@db/x Bearer tok_A_0123456789abcdefghijklmnop whsec_abc`;
    expect(scrubSecrets(line)).toBe(`${run} postgresql://app:[redacted]@db/x Bearer [redacted] whsec_[redacted]`);
  });
});

describe("scrubSecrets redacts what it did before", () => {
  // The pieces the patterns turn on, so that random lines hit their edges often: URLs' (half the
  // lines are made of these alone, or a URL with credentials would be rare), then every pattern's.
  const URL_PIECES = ["a", "Z", "1", "+", ".", "-", "_", ":", "/", "://", "a://", "u:", "@", "\\", '\\"'];
  const ALL_PIECES = [...URL_PIECES, '"', "'", " ", "\t", "=", "Bearer ", "Basic ", "whsec_", "x".repeat(16)];

  it("on 20,000 seeded random lines, the same output as the earlier pattern", () => {
    const next = mulberry32(20261207);
    const redacted = { url: 0, other: 0 };
    for (let i = 0; i < 20_000; i++) {
      const pieces = i % 2 === 0 ? URL_PIECES : ALL_PIECES;
      const line = Array.from({ length: 1 + Math.floor(next() * 30) }, () => pieces[Math.floor(next() * pieces.length)]).join("");
      const scrubbed = scrubSecrets(line);
      expect(scrubbed, JSON.stringify(line)).toBe(referenceScrub(line));
      if (scrubbed.includes(":[redacted]@")) redacted.url += 1;
      else if (scrubbed !== line) redacted.other += 1;
    }
    // The comparison means something only if many lines had something to redact.
    expect(redacted.url).toBeGreaterThan(500);
    expect(redacted.other).toBeGreaterThan(500);
  });
});
