// Experiment (issue 16): keep the hand-written HTTP server, or serve the API with express 5 (which
// already ships for Bull Board)? The hostile-input suite's seeded requests for the API listener
// (test/integration/http-hostile.test.ts, same seed) go to (a) the worker's own server and (b) a
// minimal express 5 app serving the very same route handlers; it prints, for each, the answers by
// status, the 5xx (but 503) and the time. Run: WATCHDOG_EXPERIMENTS=1 npx vitest run
// Figures and the decision: docs/design.md, "HTTP: hand-written server or express 5".
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { afterAll, beforeAll, expect, it } from "vitest";
import { TaskStatus as S } from "../../src/rules/status.js";
import { insertTasks, resetTables, testDb } from "../../test/support/db.js";
import { rawRequest } from "../../test/support/raw-http.js";
import { startApp, type RunningApp } from "../../test/integration/http-app.js";
import { generate } from "../../test/integration/http-hostile.test.js";

const db = testDb();
let app: RunningApp;
let server: Server;
let expressUrl: string;
const uncaught: unknown[] = [];

beforeAll(async () => {
  await resetTables(db);
  await insertTasks(db, [
    { status: S.ProcessingFailed, ageSeconds: 60, organizationId: 7, externalId: "INV-1" },
    { status: S.ToReview, ageSeconds: 60, organizationId: 7, externalId: "h-1" },
    { status: S.PreProcessingFailed, ageSeconds: 60, organizationId: 7 },
  ]);
  app = await startApp();
  const ex = express();
  for (const route of app.watchdog.routes.api) {
    ex[route.method.toLowerCase() as "get" | "patch"](route.path, async (req, res, next) => {
      try {
        const out = await route.handler({ method: req.method, path: req.path, query: new URLSearchParams(req.originalUrl.split("?")[1] ?? ""), headers: req.headers });
        res.status(out.status);
        for (const [k, v] of Object.entries(out.headers ?? {})) res.set(k, v);
        if (out.body === undefined) res.end();
        else if (typeof out.body === "string") res.send(out.body);
        else res.json(out.body);
      } catch (error) {
        next(error);
      }
    });
  }
  ex.use((_req, res) => void res.status(404).json({ error: "not found" }));
  server = createServer(ex);
  process.on("uncaughtException", (e) => uncaught.push(e));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  expressUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await app.stop();
  await db.$disconnect();
});

async function run(url: string) {
  const requests = generate().filter((r) => r.listener === "api");
  const byStatus = new Map<string, number>();
  const fiveXX: string[] = [];
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < requests.length) {
        const request = requests[next++]!;
        const a = await rawRequest(url, request.bytes, 5000);
        const key = a.status === null ? `no answer (${a.ended})` : String(a.status);
        byStatus.set(key, (byStatus.get(key) ?? 0) + 1);
        if (a.status !== null && a.status >= 500 && a.status !== 503) fiveXX.push(`#${request.index} ${JSON.stringify(request.bytes.slice(0, 120))} -> ${JSON.stringify(a.text.slice(0, 160))}`);
      }
    }),
  );
  return { requests: requests.length, seconds: (performance.now() - started) / 1000, byStatus: Object.fromEntries([...byStatus].sort()), fiveXX };
}

it("compares", async () => {
  const own = await run(app.apiUrl);
  const ex = await run(expressUrl);
  console.log("HAND-WRITTEN", JSON.stringify({ ...own, fiveXX: own.fiveXX.length, sample: own.fiveXX.slice(0, 3) }));
  console.log("EXPRESS", JSON.stringify({ ...ex, fiveXX: ex.fiveXX.length, sample: ex.fiveXX.slice(0, 5) }));
  console.log("UNCAUGHT", uncaught.length, String(uncaught[0] ?? ""));
  expect(own.requests).toBeGreaterThan(0);
}, 120_000);
