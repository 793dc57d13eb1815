// deploy/prometheus: the alert rules are valid (promtool check rules) and their unit tests pass
// (promtool test rules): every alert has a firing and a quiet case there, which this test also checks.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { exportedMetricNames, metricNamesIn } from "../support/exported-metrics.js";
import { promtool } from "../support/promtool.js";
import { startApp, type RunningApp } from "../integration/http-app.js";

const dir = fileURLToPath(new URL("../../deploy/prometheus/", import.meta.url));
const rulesFile = `${dir}watchdog-rules.yml`;
const testsFile = `${dir}watchdog-rules.test.yml`;

it("when checked by promtool, the rules file is valid", () => {
  const run = promtool(["check", "rules", rulesFile]);
  expect(run.stdout + run.stderr).toMatch(/SUCCESS: \d+ rules found/);
  expect(run.status).toBe(0);
});

it("when promtool runs the unit tests, every one passes", () => {
  const run = promtool(["test", "rules", testsFile], undefined);
  expect(run.stdout + run.stderr).toMatch(/SUCCESS/);
  expect(run.stdout + run.stderr).not.toMatch(/FAILED/);
  expect(run.status).toBe(0);
});

it("every alert has a unit test where it fires and one where it stays quiet", () => {
  const alerts = [...readFileSync(rulesFile, "utf8").matchAll(/^\s*- alert: (\w+)$/gm)].map((m) => m[1]!);
  expect(alerts.length).toBeGreaterThanOrEqual(8);
  const tests = readFileSync(testsFile, "utf8");
  // Each `alertname: X` block is followed by its exp_alerts: `[]` is a quiet case, a list a firing one.
  const cases = [...tests.matchAll(/alertname: (\w+)\n\s+exp_alerts:( \[\])?/g)].map((m) => ({ alert: m[1]!, quiet: m[2] !== undefined }));
  for (const alert of alerts) {
    expect(cases.some((c) => c.alert === alert && !c.quiet), `${alert} needs a firing case`).toBe(true);
    expect(cases.some((c) => c.alert === alert && c.quiet), `${alert} needs a quiet case`).toBe(true);
  }
});

it("every alert of the rules file is in docs/operations.md's table of alerts", () => {
  const alerts = [...readFileSync(rulesFile, "utf8").matchAll(/^\s*- alert: (\w+)$/gm)].map((m) => m[1]!);
  const documented = new Set([...readFileSync(new URL("../../docs/operations.md", import.meta.url), "utf8").matchAll(/^\| `(Watchdog\w+)` \|/gm)].map((m) => m[1]!));
  expect(alerts.filter((alert) => !documented.has(alert))).toEqual([]);
});

it("when /metrics of the running worker is scraped, every metric a rule names is exported", async () => {
  const app: RunningApp = await startApp();
  try {
    const exported = exportedMetricNames(await (await fetch(`${app.opsUrl}/metrics`)).text());
    const exprs = [...readFileSync(rulesFile, "utf8").matchAll(/^\s*expr: (?:\|\n)?([\s\S]*?)\n\s*(?:for|labels):/gm)].map((m) => m[1]!);
    expect(exprs.length).toBeGreaterThanOrEqual(8);
    const missing = exprs.flatMap(metricNamesIn).filter((name) => !exported.has(name));
    expect(missing).toEqual([]);
  } finally {
    await app.stop();
  }
});
