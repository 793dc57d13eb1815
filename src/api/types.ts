import type { IncomingMessage, ServerResponse } from "node:http";

/** What a handler sees: the parsed request, nothing framework-specific. */
export interface HttpInput {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage["headers"];
  /** Each header's values as sent, one per line (Node joins repeated unknown headers with ", " in `headers`). */
  headersDistinct?: IncomingMessage["headersDistinct"];
  /** The request's id (its well-formed X-Request-Id, or one generated), also in the response. */
  requestId?: string;
  /** A route that takes a JSON body: the parsed body, or undefined when none was sent; a "text" route: the body's text. */
  body?: unknown;
}

export interface HttpOutput {
  status: number;
  headers?: Record<string, string>;
  /** An object is sent as JSON, a string as text/plain; undefined sends no body. */
  body?: unknown;
}

export type Handler = (input: HttpInput) => Promise<HttpOutput> | HttpOutput;

export interface Route {
  method: string;
  path: string;
  handler: Handler;
  /**
   * "json": the server reads a JSON body (at most MAX_BODY_BYTES) before the handler runs; "text":
   * the body's text, which the handler parses after its own checks (the console's forms and replay
   * endpoint: credentials first); other routes never read one.
   */
  body?: "json" | "text";
}

/** A raw mount (e.g. Bull Board's express router) for every path under `prefix`. */
export interface Mount {
  prefix: string;
  handle: (req: IncomingMessage, res: ServerResponse) => void;
}
