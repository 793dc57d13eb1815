// The request target as a client may really send it (absolute-form, bad authorities, bad
// percent-encodings, malformed request lines): always an answer, never a crash of the process.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rawRequest } from "../support/raw-http.js";
import { sample, startApp, type RunningApp } from "./http-app.js";

let app: RunningApp;
beforeAll(async () => {
  app = await startApp();
});
afterAll(() => app.stop());

const alive = async () => (await fetch(`${app.opsUrl}/healthz`)).status;

describe("when the request target is absolute-form with a bad authority", () => {
  it.each(["http://%zz/", "http://[", "http://a:99999/admin/queues", "http://[::1/healthz", "//%zz/", "http://a b/", "https://@/x", "http:"])(
    "GET %s is 400 and the server goes on answering",
    async (target) => {
      const answer = await rawRequest(app.opsUrl, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(answer.status).toBe(400);
      expect(await alive()).toBe(200);
    },
  );

  it("a good absolute-form target is served like its origin-form", async () => {
    const answer = await rawRequest(app.opsUrl, `GET http://example.com/healthz HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n`);
    expect(answer.status).toBe(200);
  });
});

describe("when the request line or a header is malformed", () => {
  it.each([
    ["garbage", "\x00\x01\x02 / HTTP/1.1\r\n\r\n"],
    ["a space in the target", "GET /heal thz HTTP/1.1\r\nHost: x\r\n\r\n"],
    ["a header without a colon", "GET /healthz HTTP/1.1\r\nHost x\r\n\r\n"],
    ["a NUL in a header value", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n"],
    ["an oversized header", `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`],
  ])("%s: a 4xx and the connection closes; the server goes on answering", async (_case, bytes) => {
    const answer = await rawRequest(app.opsUrl, bytes);
    expect(answer.status).toBeGreaterThanOrEqual(400);
    expect(answer.status).toBeLessThan(500);
    expect(await alive()).toBe(200);
  });
});

describe("what the operator sees", () => {
  it("each refused target is counted in watchdog_http_faults_total{kind=\"bad_target\"}", async () => {
    const count = async () => sample(await (await fetch(`${app.opsUrl}/metrics`)).text(), "watchdog_http_faults_total", { kind: "bad_target" }) ?? 0;
    const before = await count();
    await rawRequest(app.opsUrl, `GET http://%zz/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect((await count()) - before).toBe(1);
  });
});
