// One way to turn a zod failure into messages people can act on, for every input the product
// takes (settings, rules files, job data, HTTP queries): each names the field, says what was
// received and what is allowed. Schemas carry their own wording through zod's `error` option;
// this adds the field name and the received value, and lists the allowed names for a typo.
import { z } from "zod";

/** What a received value was, in words, short enough for a job's failedReason or a header. */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === "number" || typeof value === "boolean") return `${typeof value} ${String(value)}`;
  return typeof value === "object" ? "an object" : typeof value;
}

/** `a.b[2].c`, or `label` for the input itself. */
export function pathName(path: readonly PropertyKey[], label = "the input"): string {
  if (path.length === 0) return label;
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join("");
}

/** The object schema at `path` inside `schema` (through optional, nullable, default, arrays), if any. */
function objectAt(schema: z.ZodType | undefined, path: readonly PropertyKey[]): z.ZodObject | undefined {
  let current: unknown = schema;
  const unwrap = () => {
    for (;;) {
      const def = (current as { def?: { type?: string; innerType?: unknown; in?: unknown; element?: unknown } } | undefined)?.def;
      if (!def) return;
      if (def.type === "optional" || def.type === "nullable" || def.type === "default" || def.type === "prefault" || def.type === "readonly") current = def.innerType;
      else if (def.type === "pipe") current = def.in;
      else return;
    }
  };
  unwrap();
  for (const key of path) {
    const def = (current as { def?: { type?: string; element?: unknown } } | undefined)?.def;
    if (def?.type === "array" && typeof key === "number") current = def.element;
    else if (current instanceof z.ZodObject && typeof key === "string") current = current.shape[key];
    else return undefined;
    unwrap();
  }
  return current instanceof z.ZodObject ? current : undefined;
}

const quoted = (keys: readonly string[]) => {
  const named = keys.slice(0, 5).map((k) => JSON.stringify(k.length > 40 ? `${k.slice(0, 40)}…` : k));
  return `${named.join(", ")}${keys.length > 5 ? ` and ${keys.length - 5} more` : ""}`;
};

/**
 * One message per issue: `<field> <what is wrong>, got <what was received>`. Parse with
 * `{ reportInput: true }` so the received value is known. With `schema`, an unknown field's
 * message lists the allowed ones.
 */
export function formatIssues(error: z.ZodError, options: { schema?: z.ZodType; label?: string } = {}): string[] {
  return error.issues.flatMap(fittingBranch).map((issue) => {
    const where = pathName(issue.path, options.label);
    if (issue.code === "unrecognized_keys") {
      const allowed = objectAt(options.schema, issue.path);
      const list = allowed ? `; allowed: ${Object.keys(allowed.shape).join(", ")} (names are case-sensitive)` : "";
      return `${issue.path.length === 0 ? "" : `${where}: `}unknown field${issue.keys.length > 1 ? "s" : ""} ${quoted(issue.keys)}${list}`;
    }
    // "got an object" says nothing a schema's own check on an object or list could not say better.
    const opaque = issue.code === "custom" && typeof issue.input === "object" && issue.input !== null;
    // A field left out is "missing", not a value received: "--by is missing; it must be a string", never ", got nothing".
    // Only input that is missing as a whole says "got nothing" (a job without data).
    const absent = "input" in issue && issue.input === undefined;
    const missing = absent && issue.path.length > 0;
    const received = "input" in issue && !opaque && (!absent || (issue.path.length === 0 && issue.code === "invalid_type")) ? `, got ${describeValue(issue.input)}` : "";
    // zod's own wording ("Invalid input: expected number, received string") is replaced by the schema's where it gave one.
    const message = issue.message.startsWith("Invalid input") || issue.message.startsWith("Too ") ? defaultMessage(issue) : issue.message;
    if (missing && issue.code === "invalid_type") return `${where} is missing; it ${message}`;
    return `${where} ${message}${message.includes(", got ") ? "" : received}`;
  });
}

/**
 * A union none of whose options matched: when exactly one option took the value's type (a `hold`
 * object with a bad field, not a boolean), its issues say what is wrong; otherwise the union's own.
 */
function fittingBranch(issue: z.core.$ZodIssue): z.core.$ZodIssue[] {
  if (issue.code !== "invalid_union" || issue.errors.length === 0) return [issue];
  const fitting = issue.errors.filter((issues) => issues.length > 0 && !issues.some((i) => i.path.length === 0 && i.code === "invalid_type"));
  if (fitting.length !== 1) return [issue];
  return fitting[0]!.flatMap((i) => fittingBranch({ ...i, path: [...issue.path, ...i.path] } as z.core.$ZodIssue));
}

function defaultMessage(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "invalid_type":
      return `must be ${article(issue.expected)}`;
    case "too_small":
      return issue.origin === "string" ? `must be at least ${issue.minimum} characters` : issue.origin === "array" ? `must have at least ${issue.minimum} item(s)` : `must be at least ${issue.minimum}`;
    case "too_big":
      return issue.origin === "string" ? `must be at most ${issue.maximum} characters` : issue.origin === "array" ? `must have at most ${issue.maximum} item(s)` : `must be at most ${issue.maximum}`;
    case "invalid_value":
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    default:
      return issue.message;
  }
}

const article = (type: string) => (/^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`);

/** How many messages a refusal names; the rest are counted. */
const NAMED_ISSUES = 5;

/**
 * Messages as one line for a refusal (an HTTP header, a job's failedReason, a console page): the
 * first few, each once, and how many more there are. A body of 50,000 bad ids is one short answer,
 * not megabytes of the same sentence in a header that clients' parsers refuse.
 */
export function joinIssues(messages: readonly string[]): string {
  const distinct = [...new Set(messages)];
  const named = distinct.slice(0, NAMED_ISSUES).join("; ");
  return distinct.length > NAMED_ISSUES ? `${named}; and ${distinct.length - NAMED_ISSUES} more (${distinct.length} in all)` : named;
}
