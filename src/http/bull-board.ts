// Bull Board under /admin/queues: its express router is the only express in the process, mounted
// as a raw handler behind HTTP Basic auth (Bull Board has no security of its own). Without
// credentials it is served unauthenticated, which config loading allows on a loopback HOST only.
import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { ExpressAdapter } from "@bull-board/express";
import type { Queue } from "bullmq";
import express from "express";
import { basicAuthMatches } from "./credentials.js";
import type { Mount } from "./types.js";

export const BOARD_PATH = "/admin/queues";
const REALM = "task-watchdog Bull Board";

export interface BoardOptions {
  queues: readonly Queue[];
  readOnly: boolean;
  /** undefined = no authentication (loopback only; enforced by config loading). */
  credentials: { user: string; password: string } | undefined;
}

export function bullBoardMount(options: BoardOptions): Mount {
  const serverAdapter = new ExpressAdapter().setBasePath(BOARD_PATH);
  createBullBoard({
    queues: options.queues.map((q) => new BullMQAdapter(q, { readOnlyMode: options.readOnly })),
    serverAdapter,
    options: { uiConfig: { boardTitle: "Task watchdog" } },
  });
  const app = express();
  app.disable("x-powered-by");
  app.use(BOARD_PATH, serverAdapter.getRouter());

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
      app(req, res);
    },
  };
}
