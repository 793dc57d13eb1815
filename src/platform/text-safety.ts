// Which characters text from outside may hold, in one place: the read API's filters, bulk bodies,
// webhook URLs, and everything that goes into the audit trail (reasons, names, request ids).

/** C0, DEL and C1 control characters: a newline forges a log line, a NUL cannot be stored in PostgreSQL text. */
const CONTROL = /\p{Cc}/u;
/** Text without them, as a whole-string pattern: zod's `.regex` puts it into the OpenAPI document. */
export const NO_CONTROL_PATTERN = /^[^\p{Cc}]*$/u;

/**
 * For text shown in the audit trail, the console and the logs, also the line and paragraph
 * separators (U+2028, U+2029), which viewers break lines at, and the bidirectional embeddings,
 * overrides and isolates (U+202A–U+202E, U+2066–U+2069), which reorder how the rest of the line is
 * shown ("Trojan Source"): `ann\u202Edesrever` reads as someone else's words.
 */
const NOT_FOR_AUDIT = /[\p{Cc}\p{Zl}\p{Zp}\u202A-\u202E\u2066-\u2069]/u;

export const CONTROL_ERROR = "must not contain control characters (such as NUL or a newline)";
export const AUDIT_TEXT_ERROR = "must not contain control characters, line separators or bidirectional controls (U+202A–U+202E, U+2066–U+2069)";

export const hasNoControl = (text: string): boolean => !CONTROL.test(text);
export const isAuditSafe = (text: string): boolean => !NOT_FOR_AUDIT.test(text);
