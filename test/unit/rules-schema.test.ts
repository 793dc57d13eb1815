// docs/rules.schema.json is generated from the zod schema of the rules file, kept current, and
// accepts what the worker accepts: the sample rules file and the documented examples.
import { readFileSync } from "node:fs";
import { Ajv2020 } from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { loadRules } from "../../src/rules/load-rules.js";
import { buildRules } from "../../src/rules/rules.js";
import { rulesJsonSchema } from "../../src/rules/rules-schema.js";

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), "utf8");
const checked = JSON.parse(read("docs/rules.schema.json")) as Record<string, unknown>;
const validate = new Ajv2020({ allErrors: true, strict: false }).compile(checked);

/** Every ```json block of a Markdown page. */
const jsonBlocks = (markdown: string) => [...markdown.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]!) as unknown);

describe("docs/rules.schema.json", () => {
  it("is what `npm run schema` generates from src/rules/rules-schema.ts", () => {
    expect(checked, "docs/rules.schema.json is stale: run `npm run schema` and commit it").toEqual(JSON.parse(JSON.stringify(rulesJsonSchema())));
  });

  it("accepts examples/rules.json, which the worker loads too", () => {
    const sample = JSON.parse(read("examples/rules.json"));
    expect(validate(sample), JSON.stringify(validate.errors)).toBe(true);
    const rules = loadRules({ rulesFile: new URL("../../examples/rules.json", import.meta.url).pathname });
    expect(rules.find((r) => r.status === 41)).toMatchObject({ stuckAfter: "PT6H", hold: { maxTasks: 200, maxShare: 0.05 } });
  });

  it("accepts every rules example of docs/rules.md, which the worker loads too", () => {
    const examples = jsonBlocks(read("docs/rules.md"));
    expect(examples.length).toBeGreaterThan(0);
    for (const example of examples) {
      expect(validate(example), `${JSON.stringify(example)}: ${JSON.stringify(validate.errors)}`).toBe(true);
      expect(() => buildRules(example as Record<string, unknown>)).not.toThrow();
    }
  });

  it.each([
    ["a misspelt field", { Processed: { stuckafter: "PT1H" } }],
    ["an unknown status", { Stuckish: { stuckAfter: "PT1H" } }],
    ["a stable status", { ToReview: { stuckAfter: "PT1H" } }],
    ["a duration in months", { Processed: { stuckAfter: "P1M" } }],
    ["a duration in words", { Processed: { stuckAfter: "24h" } }],
    ["an unknown action", { Processed: { action: "delete" } }],
    ["a share above 1", { Processed: { hold: { maxShare: 1.5 } } }],
    ["rules: null", { rules: null }],
    ["rules: []", { rules: [] }],
  ])("refuses %s, as the worker does", (_, value) => {
    expect(validate(value)).toBe(false);
    expect(() => buildRules(value as Record<string, unknown>)).toThrow();
  });
});
