// One access-log line per HTTP request through pino-http (the kept library for it), with a request
// id: a well-formed X-Request-Id the caller sent is kept (so a platform's own id follows the
// request), anything else gets a fresh UUID; either way it is echoed in the response's
// X-Request-Id and handed to the handler (the reprocess job carries it as `httpRequestId`, and its
// REPROCESSED event stores it). The line names method, path (never the query: ids and tokens live
// there), status and time — no headers, so no Authorization or cookie can reach the log.
// Probes and scrapes (/healthz, /readyz, /health/sweeps, /metrics) log at debug: a kubelet and a
// Prometheus server would otherwise write a line every few seconds forever.
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { pinoHttp, type HttpLogger } from "pino-http";
import type { Logger } from "pino";
import { parseRequestTarget } from "./request-target.js";

/** Bounded length, characters safe in a header, a log line and a job's data. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
export const REQUEST_ID_HEADER = "x-request-id";

const QUIET_PATHS = new Set(["/healthz", "/readyz", "/api/readyz", "/health/sweeps", "/metrics"]);

/** The caller's X-Request-Id when it is well-formed (sent once), else a new UUID. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers[REQUEST_ID_HEADER];
  return typeof given === "string" && REQUEST_ID_PATTERN.test(given) ? given : randomUUID();
}

const pathOf = (req: IncomingMessage) => parseRequestTarget(req.url)?.path ?? null;

export function requestLogger(logger: Logger): HttpLogger {
  return pinoHttp({
    logger,
    genReqId(req, res) {
      const id = requestIdOf(req);
      res.setHeader(REQUEST_ID_HEADER, id);
      return id;
    },
    // Our own serializers, given the raw objects: only what is listed here is ever logged.
    wrapSerializers: false,
    serializers: {
      req: (req: IncomingMessage & { id?: unknown }) => ({ id: req.id, method: req.method, path: pathOf(req) }),
      res: (res: ServerResponse) => ({ status: res.statusCode }),
      err: (err: Error) => ({ type: err.name, message: err.message }),
    },
    customLogLevel(req, res, error) {
      if (error || res.statusCode >= 500) return res.statusCode === 503 && QUIET_PATHS.has(pathOf(req) ?? "") ? "debug" : "error";
      return QUIET_PATHS.has(pathOf(req) ?? "") ? "debug" : "info";
    },
    customSuccessMessage: () => "http request",
    customErrorMessage: () => "http request",
    customAttributeKeys: { responseTime: "ms" },
    // The per-request child logger (req.log) carries the id only, not the whole request again.
    quietReqLogger: true,
  });
}
