import { describe, expect, it } from "vitest";
import { duplicateKey, MAX_JSON_DEPTH, parseStrictJson } from "../../src/platform/strict-json.js";

describe("parseStrictJson", () => {
  it("reads what JSON.parse reads", () => {
    expect(parseStrictJson('{"a": [1, {"b": null}], "c": "\\u0041"}')).toEqual({ ok: true, value: { a: [1, { b: null }], c: "A" } });
    expect(parseStrictJson("[1, 2]")).toEqual({ ok: true, value: [1, 2] });
  });
  it("refuses what JSON.parse refuses, with its message", () => {
    const parsed = parseStrictJson('{"a": 1,}');
    expect(parsed.ok).toBe(false);
  });
  it("refuses a key given twice in one object, naming the key and where it is", () => {
    expect(parseStrictJson('{"41": {"stuckAfter": "PT1H"}, "41": {"enabled": false}}')).toEqual({ ok: false, duplicate: true, error: 'the key "41" is given twice at the top level; give each key once' });
    expect(duplicateKey('{"rules": {"41": {"stuckAfter": "PT1H", "stuckAfter": "PT2H"}}}')).toBe('the key "stuckAfter" is given twice in "rules"."41"; give each key once');
    expect(duplicateKey('[{"a": 1}, {"a": 2, "b": [{"c": 1, "c": 1}]}]')).toBe('the key "c" is given twice in [1]."b"[0]; give each key once');
  });
  it("refuses JSON nested past MAX_JSON_DEPTH with a message, not a stack overflow; strings do not count", () => {
    const nested = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`;
    expect(parseStrictJson(nested(MAX_JSON_DEPTH))).toMatchObject({ ok: true });
    expect(parseStrictJson(nested(MAX_JSON_DEPTH + 1))).toEqual({ ok: false, duplicate: false, error: `it nests ${MAX_JSON_DEPTH + 1} levels deep; at most ${MAX_JSON_DEPTH} are read` });
    expect(parseStrictJson(`{"a": ${nested(100_000)}}`)).toEqual({ ok: false, duplicate: false, error: `it nests 100001 levels deep; at most ${MAX_JSON_DEPTH} are read` });
    expect(parseStrictJson(JSON.stringify({ a: "[".repeat(500) + '\\"{' }))).toMatchObject({ ok: true });
  });
  it("lets the same key stand in different objects, and escaped spellings count as the key they spell", () => {
    expect(duplicateKey('{"a": {"x": 1}, "b": {"x": 2}}')).toBeNull();
    expect(duplicateKey('{"a": 1, "\\u0061": 2}')).toBe('the key "a" is given twice at the top level; give each key once');
  });
});
