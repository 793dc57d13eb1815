// deploy/grafana: every panel's query parses as PromQL (Prometheus' own parser, through promtool
// check rules on a temporary rules file) and names only metrics a real /metrics scrape of the running
// worker exports, so a renamed metric cannot leave a panel silently empty.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { exportedMetricNames, metricNamesIn } from "../support/exported-metrics.js";
import { promtool } from "../support/promtool.js";
import { startApp, type RunningApp } from "../integration/http-app.js";

interface Panel {
  id: number;
  type: string;
  title: string;
  targets?: { refId: string; expr: string }[];
}

const dashboard = JSON.parse(readFileSync(new URL("../../deploy/grafana/task-watchdog.json", import.meta.url), "utf8")) as { uid: string; panels: Panel[] };
const queries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, id: `${p.id}${t.refId}`, expr: t.expr })));

/** Grafana's variables as Prometheus would receive them: `$__rate_interval` a duration, `$job` a regex. */
const expand = (expr: string) => expr.replace(/\$__(rate_interval|interval|range)\b/g, "5m").replace(/\$\{?(\w+)\}?/g, ".+");

let app: RunningApp;
let exported: Set<string>;

beforeAll(async () => {
  app = await startApp();
  exported = exportedMetricNames(await (await fetch(`${app.opsUrl}/metrics`)).text());
});
afterAll(() => app.stop());

it("has panels for each area, every one with a query", () => {
  expect(dashboard.uid).toBe("task-watchdog");
  const panels = dashboard.panels.filter((p) => p.type !== "row");
  expect(panels.length).toBeGreaterThanOrEqual(15);
  for (const p of panels) expect(p.targets?.length, p.title).toBeGreaterThan(0);
});

it("when every query is checked by Prometheus' parser (promtool check rules), each one parses", () => {
  const dir = mkdtempSync(join(tmpdir(), "wd-dashboard-"));
  try {
    const file = join(dir, "dashboard-queries.yml");
    const rules = queries.map((q) => `      - record: dashboard:panel_${q.id}\n        expr: ${JSON.stringify(expand(q.expr))}`).join("\n");
    writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules}\n`);
    const run = promtool(["check", "rules", file]);
    expect(run.stdout + run.stderr).toContain(`SUCCESS: ${queries.length} rules found`);
    expect(run.status).toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it("when /metrics of the running worker is scraped, every metric a panel names is exported", () => {
  expect(exported.has("watchdog_tasks_stuck")).toBe(true);
  const missing: string[] = [];
  for (const q of queries) {
    const names = metricNamesIn(q.expr);
    expect(names.length, `${q.panel}: ${q.expr}`).toBeGreaterThan(0);
    for (const name of names) if (!exported.has(name)) missing.push(`${q.panel}: ${name}`);
  }
  expect(missing).toEqual([]);
});
