// Bull Board under /admin/queues on the ops listener: its express router is the only express in
// the process, mounted as a raw handler behind HTTP Basic auth (Bull Board has no security of its
// own). Without credentials it is served unauthenticated, which start-up allows on a loopback
// OPS_HOST only, and then to a loopback Host only (DNS rebinding, as the console). Its queues sit on the fail-fast connection, and an answer is bounded: while Redis
// is away the board's API answers 503 instead of hanging.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Queue } from "bullmq";
import type { RedisConnection } from "../platform/redis.js";
import type { Logger } from "pino";
import { basicAuthMatches } from "../api/credentials.js";
import type { Mount } from "../api/types.js";
import { hostIsLoopback } from "./loopback-request.js";

export const BOARD_PATH = "/admin/queues";
const REALM = "task-watchdog Bull Board";
/** A board request still unanswered after this is answered 503 (Redis slow or frozen). */
export const BOARD_TIMEOUT_MS = 5000;

export interface BoardOptions {
  queues: readonly Queue[];
  readOnly: boolean;
  /** undefined = no authentication (loopback only; enforced by config loading). */
  credentials: { user: string; password: string } | undefined;
  /** The queues' connection: while it is not ready the board is 503 at once. */
  redis: RedisConnection;
  logger: Logger;
}

type Handle = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * The board's modules (express, its API and UI) are ~40 MB of memory that most replicas never
 * use: they are loaded on the first authorised request, not at start.
 */
async function loadBoard(options: BoardOptions): Promise<Handle> {
  const [{ createBullBoard }, { BullMQAdapter }, { ExpressAdapter }, { default: express }] = await Promise.all([
    import("@bull-board/api"),
    import("@bull-board/api/bullMQAdapter"),
    import("@bull-board/express"),
    import("express"),
  ]);
  const serverAdapter = new ExpressAdapter().setBasePath(BOARD_PATH);
  createBullBoard({
    queues: options.queues.map((q) => new BullMQAdapter(q, { readOnlyMode: options.readOnly })),
    serverAdapter,
    // The operator console sits beside the board, behind the same credentials: linked from the board's header.
    options: { uiConfig: { boardTitle: "Task watchdog", miscLinks: [{ text: "Operator console", url: "/admin/console" }] } },
  });
  // The board's API answers its own failures with a 500 quoting the error; a failed Redis call is
  // an unavailable dependency (503), and the error goes to the log, not to the browser.
  serverAdapter.setErrorHandler((error: Error & { statusCode?: number }) => {
    // The board's own 4xx (a queue or job that does not exist) keep their status.
    if (error.statusCode !== undefined && error.statusCode < 500) return { status: error.statusCode as 404, body: { error: error.message } };
    options.logger.warn({ err: error }, "Bull Board request failed");
    // Its type lists a handful of statuses (not 503); the adapter passes any to express' res.status().
    return { status: 503 as unknown as 500, body: { error: "Bull Board could not read the queues (Redis unavailable); try again later" } };
  });
  const app = express();
  app.disable("x-powered-by");
  app.use(BOARD_PATH, serverAdapter.getRouter());
  // A failed Redis call inside the board (express 5 forwards rejected handlers here): 503, not express' HTML 500.
  app.use((error: unknown, _req: unknown, res: ServerResponse, _next: unknown) => {
    options.logger.warn({ err: error }, "Bull Board request failed");
    unavailable(res, "Bull Board could not read the queues (Redis unavailable); try again later\n");
  });
  return app;
}

export function bullBoardMount(options: BoardOptions): Mount {
  let board: Promise<Handle> | undefined;
  const { credentials } = options;
  return {
    prefix: BOARD_PATH,
    handle(req, res) {
      if (credentials && !basicAuthMatches(req.headers, credentials)) {
        // The challenge makes a browser show its login prompt; the UI's own API calls then reuse it.
        res.writeHead(401, { "www-authenticate": `Basic realm="${REALM}", charset="UTF-8"`, "content-type": "text/plain; charset=utf-8" });
        res.end("authentication required: use BULL_BOARD_USER and BULL_BOARD_PASSWORD\n");
        return;
      }
      if (!credentials && !hostIsLoopback(req.headers)) {
        res.writeHead(403, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
        res.end("forbidden: without BULL_BOARD_USER and BULL_BOARD_PASSWORD the board answers a loopback Host only (open it as 127.0.0.1, ::1 or localhost), or set them\n");
        return;
      }
      if (options.redis.status !== "ready") return unavailable(res, "Redis is unavailable: the board cannot read the queues; try again later\n");
      const timer = setTimeout(() => unavailable(res, `Bull Board: no answer from Redis within ${BOARD_TIMEOUT_MS} ms; try again later\n`), BOARD_TIMEOUT_MS);
      res.once("close", () => clearTimeout(timer));
      (board ??= loadBoard(options)).then(
        (app) => app(req, res),
        (error: unknown) => {
          options.logger.error({ err: error }, "Bull Board could not be loaded");
          board = undefined; // try again on the next request
          unavailable(res, "Bull Board could not be loaded; see the worker's log\n");
        },
      );
    },
  };
}

function unavailable(res: ServerResponse, text: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(503, { "content-type": "text/plain; charset=utf-8", "retry-after": "5" });
  res.end(text);
}
