// The README's configuration table must list every setting with its real default.
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { SETTINGS } from "../../src/config/settings.js";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

it.each(Object.values(SETTINGS).map((s) => [s.env, s.default] as const))("README documents %s with its default", (env, fallback) => {
  const row = readme.split("\n").find((line) => line.startsWith(`| \`${env}\` |`));
  expect(row, `add a row for ${env} to the README's configuration table`).toBeDefined();
  expect(row!.split("|")[2]!.trim()).toBe(fallback === undefined ? "—" : `\`${fallback}\``);
});
