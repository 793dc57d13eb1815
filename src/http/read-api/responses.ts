// How the read API answers: JSON bodies, and for every refusal the reason twice — in `X-Error`
// (as restartprocessing does, for clients that read only headers) and as `{ "error": … }`.
import type { HttpOutput } from "../types.js";

/**
 * A header value Node accepts and every proxy passes: printable ASCII only. Anything else (a NUL
 * or a non-Latin letter echoed from the request) becomes a \uXXXX escape instead of a 500.
 */
export function headerSafe(text: string, maxLength = 1000): string {
  const escaped = text.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return escaped.length > maxLength ? `${escaped.slice(0, maxLength - 1)}…`.replace(/[^\x20-\x7e]/g, ".") : escaped;
}

export function refusal(status: number, error: string, headers: Record<string, string> = {}): HttpOutput {
  return { status, headers: { ...headers, "x-error": headerSafe(error) }, body: { error } };
}

export function json(body: unknown): HttpOutput {
  return { status: 200, headers: { "cache-control": "no-store" }, body };
}
