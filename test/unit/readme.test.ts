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
