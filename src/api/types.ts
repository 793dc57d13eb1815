import type { IncomingMessage, ServerResponse } from "node:http";

/** What a handler sees: the parsed request, nothing framework-specific. */
export interface HttpInput {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage["headers"];
  /** The request's id (its well-formed X-Request-Id, or one generated), also in the response. */
  requestId?: string;
  /** A route that takes a JSON body: the parsed body, or undefined when none was sent. */
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
  /** "json": the server reads a JSON body (at most MAX_BODY_BYTES) before the handler runs; other routes never read one. */
  body?: "json";
}

/** A raw mount (e.g. Bull Board's express router) for every path under `prefix`. */
export interface Mount {
  prefix: string;
  handle: (req: IncomingMessage, res: ServerResponse) => void;
}
