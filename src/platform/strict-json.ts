// JSON as JSON.parse reads it, except that an object naming one key twice is refused. JSON.parse
// keeps the last of two silently: `{"41": {"stuckAfter": "PT1H"}, "41": {"enabled": false}}` would
// switch the rule off and drop its threshold unnoticed, and a bulk body with two `taskIds` would act
// on the second. RFC 8259 leaves duplicate names to the reader; this product's answer is "say so".
// The check walks the text with jsonc-parser's scanner (linear in the text, no tree built), loaded
// on the first check: a worker that never reads a JSON body or rules file keeps its ~1 MB.
import { createRequire } from "node:module";
import type { visit as Visit } from "jsonc-parser";

let scanner: typeof Visit | undefined;
const visit: typeof Visit = (text, visitor, options) => {
  scanner ??= (createRequire(import.meta.url)("jsonc-parser") as { visit: typeof Visit }).visit;
  return scanner(text, visitor, options);
};

/**
 * The deepest nesting of arrays and objects read. jsonc-parser's scanner descends recursively: a 20 kB
 * text of 10,000 `[` overflowed the stack (a RangeError, where a message was due). Every JSON this
 * product reads — a rules file, a bulk body, a webhook configuration, a console form — nests a few levels.
 */
export const MAX_JSON_DEPTH = 100;

/** How deep arrays and objects nest in text JSON.parse accepted (brackets inside strings do not count). Linear, no recursion. */
function nestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) deepest = Math.max(deepest, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}

/** `duplicate`: the text is JSON but names a key twice (its message quotes only the key, never the text). */
export type StrictJson = { ok: true; value: unknown } | { ok: false; error: string; duplicate: boolean };

/** Where a key lives, for the message: `rules["41"]`, or "the top level". */
function where(path: readonly (string | number)[]): string {
  if (path.length === 0) return "at the top level";
  return `in ${path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? JSON.stringify(p) : `.${JSON.stringify(p)}`)).join("")}`;
}

/** The first key given twice in one object, as a message, or null. Run on text JSON.parse accepted. */
export function duplicateKey(text: string): string | null {
  const objects: Set<string>[] = [];
  let found: string | null = null;
  visit(text, {
    onObjectBegin: () => {
      objects.push(new Set());
      return found === null; // stop descending once one is found
    },
    onObjectEnd: () => void objects.pop(),
    onObjectProperty: (property, _offset, _length, _line, _column, pathSupplier) => {
      const keys = objects.at(-1);
      if (found !== null || !keys) return;
      if (keys.has(property)) found = `the key ${JSON.stringify(property.length > 40 ? `${property.slice(0, 40)}…` : property)} is given twice ${where(pathSupplier())}; give each key once`;
      keys.add(property);
    },
  });
  return found;
}

/** JSON.parse, then the duplicate-key check; `error` is JSON.parse's own message or the duplicate's. */
export function parseStrictJson(text: string): StrictJson {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, error: (error as Error).message, duplicate: false };
  }
  const depth = nestingDepth(text);
  if (depth > MAX_JSON_DEPTH) return { ok: false, error: `it nests ${depth} levels deep; at most ${MAX_JSON_DEPTH} are read`, duplicate: false };
  const duplicate = duplicateKey(text);
  return duplicate === null ? { ok: true, value } : { ok: false, error: duplicate, duplicate: true };
}
