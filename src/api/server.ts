import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Logger } from "pino";
import { requestLogger } from "./request-log.js";
import { parseRequestTarget } from "./request-target.js";
import type { HttpOutput, Mount, Route } from "./types.js";
import { isDatabaseUnavailable } from "../platform/db/statement-error.js";
import { throttledErrorLog } from "../platform/log-safety.js";
import { parseStrictJson } from "../platform/strict-json.js";

export interface HttpServer {
  server: Server;
  url: string;
  close(): Promise<void>;
}

/** What went wrong before or around a handler; counted by the caller (a metric). */
export type HttpFault = "bad_target" | "client_error" | "request_timeout" | "listener_threw" | "handler_failed" | "database_unavailable";

/** How long a client is asked to wait before trying again after a 503. */
export const RETRY_AFTER_SECONDS = 5;

/** The default of HTTP_REQUEST_TIMEOUT: a client has this long to send a whole request (headers and body). */
export const REQUEST_TIMEOUT_MS = 30_000;
/** A client has this long (or the request timeout, when shorter) to send a request's headers. */
export const HEADERS_TIMEOUT_MS = 10_000;

export interface HttpServerOptions {
  host: string;
  port: number;
  /** How long a client may take to send a whole request, headers and body (HTTP_REQUEST_TIMEOUT); REQUEST_TIMEOUT_MS by default. */
  requestTimeoutMs?: number;
  routes: Route[];
  mounts?: Mount[];
  logger: Logger;
  onFault?: (fault: HttpFault) => void;
}

/**
 * A small HTTP server: exact-path routes of plain handlers, plus raw mounts by prefix. Nothing a
 * client sends can throw out of the request listener (an uncaught exception there ends the
 * process): a target that cannot be parsed is a 400, a handler that fails because PostgreSQL is
 * unreachable or frozen is a 503 with Retry-After (try again later; nothing was done), any other
 * listener or handler that throws is a 500, and a request Node's parser refuses (`clientError`) is a
 * 400 and a closed connection. A slow client is bounded by Node's own timers: the headers must arrive
 * within HEADERS_TIMEOUT_MS and the whole request within `requestTimeoutMs`, else a 408 and a closed
 * connection. Neither bounds the handler's own time, nor a keep-alive connection's idle time between
 * requests (keepAliveTimeout).
 */
export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const { logger } = options;
  const fault = (kind: HttpFault) => {
    try {
      options.onFault?.(kind);
    } catch {
      // counting must never be what breaks a request
    }
  };
  const log = requestLogger(logger);
  // The 503s of one database outage: its first error logged, then a summary per interval.
  const unavailable = throttledErrorLog(logger, "http request answered 503: PostgreSQL is unavailable");
  const requestTimeout = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const headersTimeout = Math.min(HEADERS_TIMEOUT_MS, requestTimeout);
  // The request each connection is receiving: a timeout before its body is complete is the whole
  // request's; with none (or the previous one, complete, on a keep-alive connection) it is the headers'.
  const receiving = new WeakMap<Socket, { req: IncomingMessage; res: ServerResponse }>();
  // Node checks the connections for these timeouts on an interval (30 s by default, which would
  // double a 30 s bound): a quarter of the bound, at most a second, keeps the overshoot small.
  const serverOptions = { requestTimeout, headersTimeout, connectionsCheckingInterval: Math.min(1000, Math.ceil(headersTimeout / 4)) };
  // Requests being answered: once the listener closes, each one's connection closes after its answer.
  const answering = new Set<ServerResponse>();
  let closing: Promise<void> | undefined;
  const server = createServer(serverOptions, (req, res) => {
    receiving.set(req.socket, { req, res });
    answering.add(res);
    res.once("close", () => answering.delete(res));
    if (closing) res.shouldKeepAlive = false;
    try {
      log(req, res);
      dispatch(options, fault, unavailable, req, res);
    } catch (error) {
      fault("listener_threw");
      logger.error({ err: error, method: req.method }, "http request listener failed");
      try {
        send(res, { status: 500, body: { error: "internal error" } });
      } catch {
        res.destroy();
      }
    }
  });
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Socket) => refuse({ logger, fault, receiving, requestTimeout, headersTimeout }, error, socket));
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    server,
    url: `http://${host}:${address.port}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        // A keep-alive connection whose request is in flight would stay open after its answer until
        // the client's idle timeout (keepAliveTimeout, 5 s), and server.close() with it: answered
        // with `Connection: close` instead, it ends with the answer.
        for (const res of answering) if (!res.headersSent) res.shouldKeepAlive = false;
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}

interface Refusal {
  logger: Logger;
  fault: (kind: HttpFault) => void;
  /** The request each connection is receiving (and its response), set by the request listener. */
  receiving: WeakMap<Socket, { req: IncomingMessage; res: ServerResponse }>;
  requestTimeout: number;
  headersTimeout: number;
}

/**
 * Node's `clientError`: a request its parser refused, or one not received in time. The socket is
 * answered (or not) and always closed.
 */
function refuse({ logger, fault, receiving, requestTimeout, headersTimeout }: Refusal, error: NodeJS.ErrnoException, socket: Socket): void {
  const timedOut = error.code === "ERR_HTTP_REQUEST_TIMEOUT";
  // A slow client is not a malformed request: an alert on the parser's refusals should not fire on a slowloris.
  fault(timedOut ? "request_timeout" : "client_error");
  logger.debug({ err: { code: error.code, message: error.message } }, timedOut ? "http request not received in time: answered 408" : "malformed http request refused");
  // A reset peer, or one that can no longer be written to, gets no answer; a request not received in time a
  // 408; anything else a 400 (431 for oversized headers). The connection is closed either way.
  if (error.code === "ECONNRESET" || !socket.writable) {
    socket.destroy();
    return;
  }
  if (timedOut) {
    // Not received in time (Node's headersTimeout / requestTimeout). The 408 answers the request being
    // received; when an answer is already on its way (a handler answered before the body was in, or a
    // pipelined request's predecessor is still being answered) no other can follow it: the connection just ends.
    const current = receiving.get(socket);
    const inBody = current !== undefined && !current.req.complete;
    const answering = current !== undefined && (inBody ? current.res.headersSent : !current.res.writableEnded);
    if (answering) {
      socket.destroy();
      return;
    }
    // The access log's line for a request whose body was being read shows the 408, not the untouched 200.
    if (inBody) current.res.statusCode = 408;
    const body = inBody ? `request timeout: the whole request (headers and body) was not received within ${seconds(requestTimeout)} (HTTP_REQUEST_TIMEOUT)\n` : `request timeout: the request's headers were not received within ${seconds(headersTimeout)}\n`;
    // Ended, then destroyed once the answer is written: a client still trickling bytes keeps no half-open socket.
    socket.end(`HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`, () => socket.destroy());
    return;
  }
  const status = error.code === "HPE_HEADER_OVERFLOW" ? "431 Request Header Fields Too Large" : "400 Bad Request";
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

/** "30 s", "1.5 s": a bound in milliseconds, for a message. */
const seconds = (ms: number): string => `${ms / 1000} s`;

function dispatch(options: HttpServerOptions, fault: (kind: HttpFault) => void, unavailable: (error: unknown) => void, req: IncomingMessage, res: ServerResponse): void {
  const { routes, mounts = [], logger } = options;
  const target = parseRequestTarget(req.url);
  const requestId = typeof req.id === "string" ? req.id : undefined;
  const respond = (out: HttpOutput) => send(res, out);
  if (!target) {
    fault("bad_target");
    return respond({ status: 400, headers: { connection: "close" }, body: { error: "bad request target" } });
  }
  const mount = mounts.find((m) => target.path === m.prefix || target.path.startsWith(`${m.prefix}/`));
  if (mount) return mount.handle(req, res);

  const samePath = routes.filter((r) => r.path === target.path);
  // HEAD is GET without the body (RFC 9110 §9.3.2): the GET route answers it, and Node sends no body to a HEAD.
  const route = samePath.find((r) => r.method === req.method || (req.method === "HEAD" && r.method === "GET"));
  if (!route) {
    const allowed = samePath.flatMap((r) => (r.method === "GET" ? ["GET", "HEAD"] : [r.method]));
    if (samePath.length > 0) return respond({ status: 405, headers: { allow: allowed.join(", ") }, body: { error: `use ${allowed.join(" or ")}` } });
    return respond({ status: 404, body: { error: "not found" } });
  }
  (route.body === "json" ? readJsonBody(req) : route.body === "text" ? readTextBody(req) : Promise.resolve({ ok: true as const, body: undefined }))
    .then((read) => {
      if (!read.ok) return read.refusal;
      return route.handler({ method: req.method ?? "GET", path: target.path, query: target.query, headers: req.headers, headersDistinct: req.headersDistinct, ...(requestId ? { requestId } : {}), ...(read.body === undefined ? {} : { body: read.body }) });
    })
    .then(respond, (error: unknown) => {
      if (isDatabaseUnavailable(error)) {
        fault("database_unavailable");
        unavailable(error);
        const message = "the database (PostgreSQL) is unavailable; nothing was done, try again later";
        return respond({ status: 503, headers: { "retry-after": String(RETRY_AFTER_SECONDS), "x-error": message }, body: { error: message } });
      }
      fault("handler_failed");
      logger.error({ err: error, path: target.path, requestId }, "http handler failed");
      respond({ status: 500, body: { error: "internal error" } });
    })
    .catch((error: unknown) => {
      // send() itself failed (e.g. a header value a handler built is invalid): the socket is all that is left.
      fault("listener_threw");
      logger.error({ err: error, path: target.path }, "http response failed");
      res.destroy();
    });
}

/** The largest JSON body a route takes (50,000 task ids fit; 50,000 long external ids do not). */
export const MAX_BODY_BYTES = 2 * 1024 * 1024;

const bodyRefusal = (status: number, error: string): { ok: false; refusal: HttpOutput } => ({ ok: false, refusal: { status, headers: { "x-error": error, connection: "close" }, body: { error } } });

/** The body as text (the handler parses it): 413 past MAX_BODY_BYTES. */
function readTextBody(req: IncomingMessage): Promise<{ ok: true; body: string } | { ok: false; refusal: HttpOutput }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (result: { ok: true; body: string } | { ok: false; refusal: HttpOutput }) => {
      if (done) return;
      done = true;
      resolve(result);
    };
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        finish(bodyRefusal(413, `the body is over ${MAX_BODY_BYTES} bytes`));
        req.resume();
        return;
      }
      if (!done) chunks.push(chunk);
    });
    req.on("error", () => finish(bodyRefusal(400, "the body could not be read")));
    req.on("end", () => finish({ ok: true, body: Buffer.concat(chunks).toString("utf8") }));
  });
}

/** The request's JSON body: undefined when empty; 413 past MAX_BODY_BYTES, 415 when not JSON, 400 when it does not parse. */
async function readJsonBody(req: IncomingMessage): Promise<{ ok: true; body: unknown } | { ok: false; refusal: HttpOutput }> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > MAX_BODY_BYTES) {
    req.resume();
    return bodyRefusal(413, `the body is ${declared} bytes; at most ${MAX_BODY_BYTES} are taken`);
  }
  const read = await readTextBody(req);
  if (!read.ok) return read;
  return parseJsonBody(read.body, req.headers["content-type"]);
}

/**
 * A body read as text, parsed as a "json" route's is: undefined when empty; 415 when not declared
 * application/json, 400 when it does not parse. For a "text" route that parses its JSON body only
 * after its own checks (the bulk endpoint: the token first, so no unauthenticated body is parsed).
 */
export function parseJsonBody(text: string, contentType: string | string[] | undefined): { ok: true; body: unknown } | { ok: false; refusal: HttpOutput } {
  if (text.trim() === "") return { ok: true, body: undefined };
  const type = String(contentType ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/json") return bodyRefusal(415, `the body must be JSON: send Content-Type: application/json (got ${type === "" ? "none" : JSON.stringify(type.slice(0, 60))})`);
  const parsed = parseStrictJson(text);
  return parsed.ok ? { ok: true, body: parsed.value } : bodyRefusal(400, `the body is not valid JSON: ${parsed.error.slice(0, 120)}`);
}

function send(res: ServerResponse, out: HttpOutput): void {
  if (res.headersSent) {
    if (!res.writableEnded) res.end();
    return;
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(out.headers ?? {})) headers[name] = headerSafe(value);
  let payload: string | undefined;
  if (typeof out.body === "string") {
    payload = out.body;
    headers["content-type"] ??= "text/plain; charset=utf-8";
  } else if (out.body !== undefined) {
    payload = JSON.stringify(out.body);
    headers["content-type"] ??= "application/json; charset=utf-8";
  }
  res.writeHead(out.status, headers);
  res.end(payload);
}

/**
 * A header value Node will send: anything outside printable ASCII (a reason quoting a client's
 * DEL, "€" or a lone surrogate) is written as `\uXXXX`, as JSON would. Node throws on such
 * characters instead, and the client would get a dropped connection in place of its 400.
 */
export function headerSafe(value: string): string {
  return value.replace(/[^\x20-\x7e\t]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
