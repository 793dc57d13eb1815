// Settings of the HTTP surface (Bull Board credentials, API tokens) and log scrubbing: pure, table-tested.
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { parseApiTokens } from "../../src/platform/config/api-tokens.js";
import { exposureProblems, isLoopbackHost } from "../../src/platform/config/cross-checks.js";
import { ConfigError, loadConfig } from "../../src/platform/config/load-config.js";
import { createLogger, scrubSecrets } from "../../src/platform/logger.js";

const TOKEN_A = "tok_A_0123456789abcdefghijklmnop";
const TOKEN_B = "tok_B_0123456789abcdefghijklmnop";

function configError(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("API_TOKENS", () => {
  it("binds each token to one organization", () => {
    expect(loadConfig({ API_TOKENS: ` ${TOKEN_A}:7 , ${TOKEN_B}:8` }).apiTokens).toEqual([
      { token: TOKEN_A, organizationId: 7 },
      { token: TOKEN_B, organizationId: 8 },
    ]);
    expect(loadConfig({}).apiTokens).toBeUndefined();
  });

  it.each([
    ["no organization", `${TOKEN_A}`, /entry 1 of 1 has no ":<organizationId>"/],
    ["organization not a number", `${TOKEN_A}:seven`, /entry 1 of 1 has an organization id that is not a whole number/],
    ["organization 0", `${TOKEN_A}:0`, /not a whole number from 1 to 2147483647/],
    ["short token", `short-token:7`, /entry 1 of 1 has a token shorter than 24 characters/],
    ["token with a space", `tok en_0123456789abcdefghijklmnop:7`, /has a token with characters outside/],
    ["same token twice", `${TOKEN_A}:7,${TOKEN_A}:8`, /entry 2 of 2 repeats an earlier token/],
    ["empty entry", `${TOKEN_A}:7,`, /entry 2 of 2 has no ":<organizationId>"/],
  ])("refuses %s, naming API_TOKENS and the entry but never the token", (_case, raw, message) => {
    const text = configError({ API_TOKENS: raw });
    expect(text).toMatch(/API_TOKENS=\(value hidden\)/);
    expect(text).toMatch(message);
    expect(text).toMatch(/Expected "<token>:<organizationId>" pairs/);
    expect(text).not.toContain("tok_A_");
    expect(text).not.toContain("short-token");
  });

  it("parseApiTokens reports every bad entry at once", () => {
    const result = parseApiTokens(`x:1,${TOKEN_A}:y`);
    expect("error" in result && result.error).toMatch(/entry 1 of 2 .*; entry 2 of 2 /);
  });
});

describe("Bull Board exposure (OPS_HOST × BULL_BOARD_USER/PASSWORD)", () => {
  it.each(["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST", "::ffff:127.0.0.1", "0:0:0:0:0:0:0:1"])("%s is loopback", (host) => {
    expect(isLoopbackHost(host)).toBe(true);
  });
  it.each(["0.0.0.0", "::", "10.0.0.5", "192.168.1.2", "example.com", "128.0.0.1", "::2"])("%s is not loopback", (host) => {
    expect(isLoopbackHost(host)).toBe(false);
  });

  it("when OPS_HOST is exposed and no credentials are set, the worker's start-up gate names the variables", () => {
    const [text] = exposureProblems(loadConfig({ OPS_HOST: "0.0.0.0" }));
    expect(text).toMatch(/OPS_HOST="0\.0\.0\.0" exposes the ops listener beyond this machine/);
    expect(text).toMatch(/set BULL_BOARD_USER and BULL_BOARD_PASSWORD, or bind a loopback OPS_HOST/);
    expect(exposureProblems(loadConfig({ OPS_HOST: "0.0.0.0", BULL_BOARD_USER: "ops", BULL_BOARD_PASSWORD: "a-long-password" }))).toEqual([]);
    expect(exposureProblems(loadConfig({ OPS_HOST: "127.0.0.1" }))).toEqual([]);
  });

  it("an exposed API_HOST needs no board credentials: the board is served on the ops listener only", () => {
    expect(exposureProblems(loadConfig({ API_HOST: "0.0.0.0" }))).toEqual([]);
  });

  it("commands that serve nothing (migrate, stuck, rules) load an exposed OPS_HOST without board credentials", () => {
    expect(loadConfig({ OPS_HOST: "0.0.0.0" }).opsHost).toBe("0.0.0.0");
  });

  it("when OPS_HOST is exposed with credentials, or loopback without, the configuration loads", () => {
    expect(loadConfig({ OPS_HOST: "0.0.0.0", BULL_BOARD_USER: "ops", BULL_BOARD_PASSWORD: "a-long-password" })).toMatchObject({
      opsHost: "0.0.0.0",
      bullBoardUser: "ops",
      bullBoardPassword: "a-long-password",
      bullBoardReadOnly: true, // read-only unless switched on
    });
    expect(loadConfig({ OPS_HOST: "::1" }).bullBoardUser).toBeUndefined();
  });

  it("a user without a password (or the reverse) is refused, even on loopback", () => {
    expect(configError({ BULL_BOARD_USER: "ops" })).toMatch(/BULL_BOARD_USER and BULL_BOARD_PASSWORD go together/);
    expect(configError({ BULL_BOARD_PASSWORD: "a-long-password" })).toMatch(/go together/);
  });

  it("a short board password is refused without being echoed", () => {
    const text = configError({ BULL_BOARD_USER: "ops", BULL_BOARD_PASSWORD: "hunter2" });
    expect(text).toMatch(/BULL_BOARD_PASSWORD=\(value hidden\) must be at least 12 characters long/);
    expect(text).not.toContain("hunter2");
  });

  it("SWEEP_OVERDUE_AFTER is an ISO-8601 duration, unset by default", () => {
    expect(loadConfig({}).sweepOverdueAfterMs).toBeUndefined();
    expect(loadConfig({ SWEEP_OVERDUE_AFTER: "PT10M" }).sweepOverdueAfterMs).toBe(600_000);
    expect(configError({ SWEEP_OVERDUE_AFTER: "10m" })).toMatch(/SWEEP_OVERDUE_AFTER="10m"/);
  });

  it("SWEEP_OVERDUE_AFTER not longer than SWEEP_INTERVAL is refused: /health/sweeps and watchdog_sweep_overdue would turn red between every two scheduled sweeps", () => {
    expect(configError({ SWEEP_INTERVAL: "PT15M", SWEEP_OVERDUE_AFTER: "PT10M" })).toMatch(
      /SWEEP_OVERDUE_AFTER=PT10M is not longer than SWEEP_INTERVAL=PT15M: .*set SWEEP_OVERDUE_AFTER above SWEEP_INTERVAL \(e\.g\. PT45M, 3 × it\) or unset it/,
    );
    expect(configError({ SWEEP_INTERVAL: "PT1M", SWEEP_OVERDUE_AFTER: "PT1M" })).toMatch(/SWEEP_OVERDUE_AFTER=PT1M is not longer than SWEEP_INTERVAL=PT1M/);
    expect(loadConfig({ SWEEP_INTERVAL: "PT1M", SWEEP_OVERDUE_AFTER: "PT2M" }).sweepOverdueAfterMs).toBe(120_000);
    // Without the schedule this replica's SWEEP_INTERVAL paces nothing.
    expect(loadConfig({ SWEEP_SCHEDULE_ENABLED: "false", SWEEP_OVERDUE_AFTER: "PT30S" }).sweepOverdueAfterMs).toBe(30_000);
  });
});

describe("log scrubbing", () => {
  it.each([
    ["postgresql://app:s3cret@db:5432/x", "postgresql://app:[redacted]@db:5432/x"],
    ["redis://:s3cret@cache:6379/0", "redis://:[redacted]@cache:6379/0"],
    ['"connect failed: rediss://default:p%40ss@h:6380"', '"connect failed: rediss://default:[redacted]@h:6380"'],
    ["Authorization: Bearer tok_A_0123456789abcdefghijklmnop", "Authorization: Bearer [redacted]"],
    ["Basic b3BzOmEtbG9uZy1wYXNzd29yZA==", "Basic [redacted]"],
    ["postgresql://postgres@127.0.0.1/x has no password", "postgresql://postgres@127.0.0.1/x has no password"],
    ["redis://:p@ss@cache:6379/0", "redis://:[redacted]@cache:6379/0"],
    ['{"msg":"failed: rediss://default:wr@ng\\"Pass@h:6380/0","x":"a@b"}', '{"msg":"failed: rediss://default:[redacted]@h:6380/0","x":"a@b"}'],
    ["Basic auth in front of the board", "Basic auth in front of the board"],
  ])("%s → %s", (line, scrubbed) => {
    expect(scrubSecrets(line)).toBe(scrubbed);
  });

  it("a logger censors secret fields and credentials inside messages", () => {
    let out = "";
    const destination = new Writable({ write: (chunk, _enc, done) => ((out += String(chunk)), done()) });
    const logger = createLogger({ level: "info", destination });
    logger.info({ config: { databaseUrl: "postgresql://a:pw1@h/x", apiTokens: [{ token: TOKEN_A }], bullBoardPassword: "pw-board-123" } }, "config");
    logger.error({ err: new Error("cannot reach postgresql://a:pw2@h/x") }, "failed");
    logger.info({ req: { headers: { authorization: `Bearer ${TOKEN_B}` } } }, "request");
    expect(out).toContain('"msg":"config"');
    for (const secret of ["pw1", "pw2", TOKEN_A, TOKEN_B, "pw-board-123"]) expect(out).not.toContain(secret);
  });
});
