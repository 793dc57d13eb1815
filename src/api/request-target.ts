// The request target of an incoming request, parsed without ever throwing. Node hands the raw
// target to the listener unchecked: origin-form (`/path?q`), absolute-form (`http://host/path`,
// which RFC 9112 §3.2.2 requires a server to accept), `*`, or anything a client cares to send.
// WHATWG URL parsing throws on a bad authority (`http://%zz/`, `http://[`, `http://a:99999/`),
// and a throw inside a request listener is an uncaught exception that ends the process.

export interface RequestTarget {
  /** The path, percent-encoding kept as sent (routes match it exactly). */
  path: string;
  query: URLSearchParams;
}

const BASE = "http://localhost";

/** The path and query of `raw`, or null when it is not a request target anyone could serve. */
export function parseRequestTarget(raw: string | undefined): RequestTarget | null {
  if (raw === undefined || raw === "") return null;
  // Origin-form must start with exactly one slash: `//host/x` would be read as an authority.
  const absolute = /^[a-z][a-z0-9+.-]*:/i.test(raw);
  if (!absolute && (!raw.startsWith("/") || raw.startsWith("//"))) return raw === "*" ? { path: "*", query: new URLSearchParams() } : null;
  let url: URL;
  try {
    url = absolute ? new URL(raw) : new URL(raw, BASE);
  } catch {
    return null;
  }
  if (absolute && url.protocol !== "http:" && url.protocol !== "https:") return null;
  return { path: url.pathname, query: url.searchParams };
}
