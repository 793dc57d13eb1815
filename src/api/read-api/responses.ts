// How the read API answers: JSON bodies, and for every refusal the reason twice — in `X-Error`
// (as restartprocessing does, for clients that read only headers) and as `{ "error": … }`.
// The server writes every header value as printable ASCII (headerSafe in server.ts), so a reason
// that quotes a NUL or a non-Latin letter from the request arrives escaped, not as a 500.
import type { HttpOutput } from "../types.js";

export function refusal(status: number, error: string, headers: Record<string, string> = {}): HttpOutput {
  return { status, headers: { ...headers, "x-error": error }, body: { error } };
}

export function json(body: unknown): HttpOutput {
  return { status: 200, headers: { "cache-control": "no-store" }, body };
}
