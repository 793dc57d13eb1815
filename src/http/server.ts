import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { HttpOutput, Mount, Route } from "./types.js";

export interface HttpServer {
  server: Server;
  url: string;
  close(): Promise<void>;
}

/** A small HTTP server: exact-path routes of plain handlers, plus raw mounts by prefix. */
export async function startHttpServer(options: { host: string; port: number; routes: Route[]; mounts?: Mount[]; logger: Logger }): Promise<HttpServer> {
  const { routes, mounts = [], logger } = options;
  const server = createServer((req, res) => {
    const started = performance.now();
    const url = new URL(req.url ?? "/", "http://localhost");
    res.on("finish", () => {
      logger.info({ req: { method: req.method, path: url.pathname }, status: res.statusCode, ms: Math.round(performance.now() - started) }, "http request");
    });
    const mount = mounts.find((m) => url.pathname === m.prefix || url.pathname.startsWith(`${m.prefix}/`));
    if (mount) return mount.handle(req, res);

    const samePath = routes.filter((r) => r.path === url.pathname);
    const route = samePath.find((r) => r.method === req.method);
    const respond = (out: HttpOutput) => send(res, out);
    if (!route) {
      if (samePath.length > 0) return respond({ status: 405, headers: { allow: samePath.map((r) => r.method).join(", ") }, body: { error: `use ${samePath.map((r) => r.method).join(" or ")}` } });
      return respond({ status: 404, body: { error: "not found" } });
    }
    Promise.resolve()
      .then(() => route.handler({ method: req.method ?? "GET", path: url.pathname, query: url.searchParams, headers: req.headers }))
      .then(respond, (error: unknown) => {
        logger.error({ err: error, path: url.pathname }, "http handler failed");
        respond({ status: 500, body: { error: "internal error" } });
      });
  });
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
  let closing: Promise<void> | undefined;
  return {
    server,
    url: `http://${host}:${address.port}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}

function send(res: import("node:http").ServerResponse, out: HttpOutput): void {
  if (res.headersSent) return;
  const headers: Record<string, string> = { ...out.headers };
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
