import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, redactUrl } from "../../src/platform/config/load-config.js";
import { loadRules } from "../../src/rules/load-rules.js";
import { basicAuthMatches } from "../../src/api/credentials.js";

function problemsOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig", () => {
  it("has a working default for every required setting", () => {
    expect(loadConfig({})).toMatchObject({
      databaseUrl: "postgresql://postgres@127.0.0.1:5432/task_watchdog",
      redisUrl: "redis://127.0.0.1:6379/0",
      apiHost: "127.0.0.1",
      apiPort: 3000,
      sweepIntervalMs: 60_000,
      httpRequestTimeoutMs: 30_000,
      sweepBatchSize: 1000,
      logLevel: "info",
      rulesFile: undefined,
    });
  });

  it.each([
    ["API_PORT", "abc", /API_PORT="abc" must be a whole number from 0 to 65535/],
    ["OPS_PORT", "70000", /OPS_PORT="70000" must be a whole number/],
    ["SWEEP_BATCH_SIZE", "0", /SWEEP_BATCH_SIZE="0" must be a whole number from 1 to 50000/],
    ["SWEEP_BATCH_SIZE", "1e3", /SWEEP_BATCH_SIZE="1e3" must be a whole number/],
    ["SWEEP_INTERVAL", "60s", /SWEEP_INTERVAL="60s" is not an ISO-8601 duration; write e\.g\. "PT30M"/],
    ["SWEEP_INTERVAL", "60", /SWEEP_INTERVAL="60" is not an ISO-8601 duration/],
    ["SWEEP_INTERVAL", "P30D", /SWEEP_INTERVAL="P30D" must be at most P24D/],
    ["SHUTDOWN_TIMEOUT", "PT0S", /SHUTDOWN_TIMEOUT="PT0S" must be at least one second long/],
    ["HTTP_REQUEST_TIMEOUT", "PT0.5S", /HTTP_REQUEST_TIMEOUT="PT0.5S" must be at least one second long/],
    ["HTTP_REQUEST_TIMEOUT", "PT1H", /HTTP_REQUEST_TIMEOUT="PT1H" must be at most PT10M \(600 s\)/],
    ["HTTP_REQUEST_TIMEOUT", "30", /HTTP_REQUEST_TIMEOUT="30" is not an ISO-8601 duration/],
    ["LOG_LEVEL", "verbose", /LOG_LEVEL="verbose" must be one of fatal, error/],
    ["REDIS_URL", "localhost:6379", /REDIS_URL=\(value hidden\) must start with redis:\/\/ or rediss:\/\//],
    ["REDIS_URL", "redis:pw@127.0.0.1:6379", /REDIS_URL=\(value hidden\) must name a host after "redis:\/\/"/],
    ["DATABASE_URL", "mysql://x", /DATABASE_URL=\(value hidden\) must start with postgresql:/],
    ["DATABASE_URL", "not a url", /DATABASE_URL=\(value hidden\) must be a URL such as postgresql:\/\/USER/],
    ["DATABASE_URL", "postgres:PW@127.0.0.1/x", /DATABASE_URL=\(value hidden\) must name a host after "postgres:\/\/"/],
    ["DATABASE_URL", "postgresql:///x", /DATABASE_URL=\(value hidden\) must name a host/],
    ["DATABASE_URL", "postgresql://127.0.0.1:5432/x", /DATABASE_URL=\(value hidden\) names no user/],
    ["DATABASE_URL", "postgresql://app:PW@127.0.0.1:5432", /DATABASE_URL=\(value hidden\) names no database/],
    ["DATABASE_URL", "postgresql://app:PW@127.0.0.1:5432/", /DATABASE_URL=\(value hidden\) names no database/],
    ["LOG_PRETTY", "maybe", /LOG_PRETTY="maybe" must be true or false \(also 1\/0, yes\/no, on\/off; any case\)/],
    ["API_PORT", "", /API_PORT is set but empty; unset it or give a value/],
    ["RULES_FILE", "   ", /RULES_FILE is set but empty; unset it or give a value/],
  ])("%s=%s is refused naming the variable and what is allowed", (name, value, message) => {
    expect(problemsOf(() => loadConfig({ [name]: value }))).toMatch(message);
  });

  it.each([
    ["1", true],
    ["yes", true],
    ["ON", true],
    [" true ", true],
    ["0", false],
    ["No", false],
    ["off", false],
  ])("a boolean setting reads %j as %s", (raw, value) => {
    expect(loadConfig({ LOG_PRETTY: raw }).logPretty).toBe(value);
  });

  it.each(["redis://127.0.0.1:6379/abc", "redis://127.0.0.1:6379/watchdog", "redis://127.0.0.1:6379/2x", "redis://127.0.0.1:6379/0/1", "redis://127.0.0.1:6379/-1", "redis://127.0.0.1:6379/%203"])(
    "REDIS_URL with the path of %s is refused: ioredis reads it as no database index or another one (Number.parseInt) and works on that database silently",
    (url) => {
      expect(problemsOf(() => loadConfig({ REDIS_URL: url }))).toMatch(/REDIS_URL=\(value hidden\) must end with a database index \(\/0, \/1, …\) or no path at all, e\.g\. redis:\/\/\[USER:PASSWORD@\]HOST:6379\/0/);
    },
  );

  it.each(["redis://127.0.0.1:6379", "redis://127.0.0.1:6379/", "redis://127.0.0.1:6379/0", "redis://:pw@127.0.0.1/15", "rediss://u:pw@redis.example:6380/3?family=6"])("REDIS_URL=%s is accepted", (url) => {
    expect(loadConfig({ REDIS_URL: url }).redisUrl).toBe(url);
  });

  it("BULL_BOARD_USER with a colon is refused: Basic auth splits user and password at the first colon, so that user could never log in", () => {
    const credentials = { user: "ops:admin", password: "board-password-ZQ93" };
    const header = `Basic ${Buffer.from(`${credentials.user}:${credentials.password}`).toString("base64")}`;
    expect(basicAuthMatches({ authorization: header }, credentials)).toBe(false);
    expect(problemsOf(() => loadConfig({ BULL_BOARD_USER: credentials.user, BULL_BOARD_PASSWORD: credentials.password }))).toMatch(/BULL_BOARD_USER="ops:admin" must not contain ":"/);
    expect(loadConfig({ BULL_BOARD_USER: "ops", BULL_BOARD_PASSWORD: "pass:word:1234" }).bullBoardPassword).toBe("pass:word:1234");
  });

  it("never shows a database password, whatever is wrong with the URL", () => {
    for (const url of ["postgres:PW-9f3e@127.0.0.1/x", "postgresql://u:PW-9f3e@/x", "postgresql://u:PW-9f3e@h", "mysql://u:PW-9f3e@h/x"]) {
      expect(problemsOf(() => loadConfig({ DATABASE_URL: url }))).not.toContain("PW-9f3e");
    }
  });

  it.each([
    ["HOST", "0.0.0.0", /HOST is no longer read: .*set API_HOST \(the external API\) and OPS_HOST \(health, metrics, Bull Board\)/],
    ["PORT", "3000", /PORT is no longer read: .*set API_PORT \(the external API, default 3000\) and OPS_PORT \(health, metrics, Bull Board, default 3001\)/],
  ])("the retired %s is refused, naming the variables that replace it", (name, value, message) => {
    expect(problemsOf(() => loadConfig({ [name]: value }))).toMatch(message);
  });

  it.each([
    ["API_HOST", "x\ny"],
    ["API_HOST", "a b"],
    ["OPS_HOST", "host\tname"],
    ["OPS_HOST", "[::1]"],
    ["API_HOST", "http://0.0.0.0"],
    ["API_HOST", "-bad.example"],
  ])("%s=%j is refused: an IP address or a host name", (name, value) => {
    expect(problemsOf(() => loadConfig({ [name]: value }))).toMatch(new RegExp(`${name}=.* must be an IP address \\(e\\.g\\. 127\\.0\\.0\\.1, 0\\.0\\.0\\.0, ::1\\) or a host name`));
  });

  it.each(["0.0.0.0", "::", "::1", "10.1.2.3", "localhost", "garbage", "api-1.internal.example.com", "fe80::1%eth0"])("API_HOST=%s is accepted", (value) => {
    expect(loadConfig({ API_HOST: value, OPS_HOST: value, BULL_BOARD_USER: "u", BULL_BOARD_PASSWORD: "p".repeat(16) })).toMatchObject({ apiHost: value, opsHost: value });
  });

  it.each([["q\nx"], ["a b"], ["bull\u0000"], ["préfixe"], ["x".repeat(65)]])("QUEUE_PREFIX=%j is refused: it is part of every Redis key", (value) => {
    expect(problemsOf(() => loadConfig({ QUEUE_PREFIX: value }))).toMatch(/QUEUE_PREFIX=.* must be 1 to 64 printable ASCII characters without spaces/);
  });

  it.each(["bull", "{watchdog}", "app:bull", "wd-test_1.2"])("QUEUE_PREFIX=%s is accepted", (value) => {
    expect(loadConfig({ QUEUE_PREFIX: value }).queuePrefix).toBe(value);
  });

  it("a duration setting longer than P24D is refused, as configuration.md says, unless its row gives its own bound", () => {
    const doc = readFileSync(new URL("../../docs/configuration.md", import.meta.url), "utf8");
    const rows = [...doc.matchAll(/^\| `([A-Z_]+)` \| [^|]* \| (.*) \|$/gm)].map((m) => ({ name: m[1]!, text: m[2]! }));
    expect(rows.length).toBeGreaterThan(30);
    const accepts = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return true;
      } catch {
        return false;
      }
    };
    // A duration setting: takes PT1M, refuses a word. Past the general bound without saying so in its row: the doc is wrong.
    const durations = rows.filter((r) => accepts({ [r.name]: "PT1M" }) && !accepts({ [r.name]: "soon" }));
    expect(durations.length).toBeGreaterThan(10);
    const unsaid = durations.filter((r) => accepts({ [r.name]: "P25D" }) && !/at most P\d+D/.test(r.text)).map((r) => r.name);
    expect(unsaid).toEqual([]);
  });

  it("the two listeners default to loopback 3000 (API) and 3001 (ops)", () => {
    expect(loadConfig({})).toMatchObject({ apiHost: "127.0.0.1", apiPort: 3000, opsHost: "127.0.0.1", opsPort: 3001 });
  });

  it("never echoes a secret, and lists every problem at once", () => {
    const message = problemsOf(() => loadConfig({ DATABASE_URL: "mysql://root:hunter2@db/x", API_PORT: "-1" }));
    expect(message).not.toContain("hunter2");
    expect(message.split("\n  - ")).toHaveLength(3);
  });

  it("redactUrl hides the password of a connection string", () => {
    expect(redactUrl("postgresql://app:s3cret@db:5432/x")).toBe("postgresql://app:***@db:5432/x");
    expect(redactUrl("postgresql://app@db:5432/x?application_name=wd&password=s3cret&sslpassword=k3y")).toBe("postgresql://app@db:5432/x?application_name=wd&password=***&sslpassword=***");
  });
});

describe("loadRules", () => {
  const dir = mkdtempSync(join(tmpdir(), "rules-"));

  it("applies RULES_FILE, then RULES_JSON on top", () => {
    const file = join(dir, "rules.json");
    writeFileSync(file, JSON.stringify({ rules: { Processed: { stuckAfter: "PT48H" }, ProcessingInProgress: { stuckAfter: "PT6H" } } }));
    const rules = loadRules({ rulesFile: file, rulesJson: JSON.stringify({ ProcessingInProgress: { stuckAfter: "PT8H" } }) });
    expect(rules.find((r) => r.status === 70)?.stuckAfterSeconds).toBe(48 * 3600);
    expect(rules.find((r) => r.status === 41)?.stuckAfterSeconds).toBe(8 * 3600);
  });

  it("RULES_JSON overrides only the fields it names of the file's rule; a workspace list is replaced whole", () => {
    const file = join(dir, "deep.json");
    writeFileSync(
      file,
      JSON.stringify({ rules: { ProcessingInProgress: { stuckAfter: "PT6H", workspaces: [{ workspaceIds: [7], enabled: false }] }, Processed: { stuckAfter: "PT48H" } } }),
    );
    const onlyEnabled = loadRules({ rulesFile: file, rulesJson: JSON.stringify({ ProcessingInProgress: { enabled: true } }) });
    expect(onlyEnabled.find((r) => r.status === 41)).toMatchObject({ enabled: true, stuckAfter: "PT6H", stuckAfterSeconds: 6 * 3600, workspaces: [{ workspaceIds: [7], enabled: false }] });
    const newList = loadRules({ rulesFile: file, rulesJson: JSON.stringify({ ProcessingInProgress: { workspaces: [{ workspaceIds: [8], stuckAfter: "PT1H" }] } }) });
    expect(newList.find((r) => r.status === 41)).toMatchObject({ stuckAfterSeconds: 6 * 3600, workspaces: [{ workspaceIds: [8], stuckAfterSeconds: 3600 }] });
    expect(newList.find((r) => r.status === 70)?.stuckAfterSeconds).toBe(48 * 3600);
  });

  it.each([
    ["rules null", { rules: null }, /RULES_JSON: rules must be an object keyed by status name, e\.g\. .*, got (null|an array)/],
    ["rules a list", { rules: [] }, /RULES_JSON: rules must be an object keyed by status name, e\.g\. .*, got (null|an array)/],
    ["the same rule by code and by name", { "41": { stuckAfter: "PT5H" }, ProcessingInProgress: { stuckAfter: "PT6H" } }, /RULES_JSON: rule "ProcessingInProgress" is given twice \("41" and "ProcessingInProgress"\)/],
    ["a threshold past the bound", { ProcessingInProgress: { stuckAfter: "P30000D" } }, /rule "ProcessingInProgress": stuckAfter must be at most P3650D/],
    ["an override's threshold past the bound", { ProcessingInProgress: { workspaces: [{ workspaceIds: [3], stuckAfter: "P4000D" }] } }, /rule "ProcessingInProgress": workspaces\[0\]\.stuckAfter must be at most P3650D/],
  ])("refuses %s, naming the source and the rule", (_, value, message) => {
    expect(problemsOf(() => loadRules({ rulesJson: JSON.stringify(value) }))).toMatch(message);
  });

  it("names the source of a broken file or JSON", () => {
    expect(problemsOf(() => loadRules({ rulesFile: join(dir, "missing.json") }))).toMatch(/RULES_FILE=".*missing.json" cannot be read \(ENOENT\)/);
    expect(problemsOf(() => loadRules({ rulesJson: "{not json" }))).toMatch(/RULES_JSON is not valid JSON/);
    // The same status twice as the same key: JSON.parse kept the last (the rule went off, its threshold dropped).
    expect(problemsOf(() => loadRules({ rulesJson: '{"41": {"stuckAfter": "PT1H"}, "41": {"enabled": false}}' }))).toMatch(/RULES_JSON is not valid JSON: the key "41" is given twice at the top level; give each key once/);
    const file = join(mkdtempSync(join(tmpdir(), "rules-")), "rules.json");
    writeFileSync(file, '{"rules": {"41": {"stuckAfter": "PT1H", "stuckAfter": "PT9H"}}}');
    expect(problemsOf(() => loadRules({ rulesFile: file }))).toMatch(/RULES_FILE \(.*rules\.json\) is not valid JSON: the key "stuckAfter" is given twice in "rules"\."41"/);
    expect(problemsOf(() => loadRules({ rulesJson: "[]" }))).toMatch(/RULES_JSON must be a JSON object keyed by status name/);
    // A key JSON.parse keeps as an own property but an object literal would take for its prototype: unknown, in both forms.
    expect(problemsOf(() => loadRules({ rulesJson: '{"__proto__": {"stuckAfter": "PT1H"}}' }))).toMatch(/RULES_JSON: rule "__proto__": unknown status/);
    expect(problemsOf(() => loadRules({ rulesJson: '{"rules": {"__proto__": {"stuckAfter": "PT1H"}}}' }))).toMatch(/RULES_JSON: rule "__proto__": unknown status/);
    // Nested past any rule's shape (20 kB): JSON.parse reads it, the duplicate-key check overflowed the stack.
    const deep = `{"41": {"hold": ${"[".repeat(10_000)}${"]".repeat(10_000)}}}`;
    expect(problemsOf(() => loadRules({ rulesJson: deep }))).toMatch(/RULES_JSON is not valid JSON: it nests 10002 levels deep; at most 100 are read/);
    expect(problemsOf(() => loadRules({ rulesJson: JSON.stringify({ ToReview: {} }) }))).toMatch(/rule "ToReview": ToReview is a stable status/);
  });
});
