// How a webhook endpoint's URL is shown to people: in the CLI's output, logs and errors. A receiver
// may authenticate by a token in the query string (`?token=…`), or keep one in the fragment: those
// are never shown, only marked, so an operator still sees that two endpoints differ there. Origin and
// path (and the endpoint's id, where one is listed) tell endpoints apart. Credentials (user:password)
// are refused on the way in (webhook-config.ts), and an origin never carries them.

/** Origin and path, nothing else: where a request went, for logs and errors. */
export function urlLabel(url: URL): string {
  // The origin spelled out: URL.origin is "null" for a scheme it does not know (a refused URL is shown too).
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/** Origin and path, with `?<redacted>` and `#<redacted>` standing for a query string and a fragment. */
export function redactedUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    // Not parsed (refused input, a row written by hand): shown up to its first ? or #, where a token may follow.
    return raw.replace(/[?#][\s\S]*$/, "?<redacted>");
  }
  return `${urlLabel(url)}${url.search === "" ? "" : "?<redacted>"}${url.hash === "" ? "" : "#<redacted>"}`;
}
