// Slow clients: a request whose headers never finish, or whose body trickles in, holds a connection
// only as long as HTTP_REQUEST_TIMEOUT allows (here PT1S; the headers alone get at most 10 s, so
// here the same 1 s), and is then answered 408 with a body naming the limit and the connection closed.
// Requests sent at a normal pace, and keep-alive connections idle for longer than the bound, still work.
// Time is real: each slow request takes about the bound (plus Node's check interval) to be refused.
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BULK_REPROCESS_PATH } from "../../src/api/bulk-reprocess.js";
import { TASK_STATUS_PATH } from "../../src/api/read-api/task-status.js";
import { ORG_7_TOKEN, sample, startApp, type RunningApp } from "./http-app.js";

interface SlowAnswer {
  status: number | null;
  text: string;
  /** "closed": the server ended the connection; "deadline": it had not answered nor closed after `deadlineMs`. */
  ended: "closed" | "reset" | "deadline";
  ms: number;
}

/**
 * Writes `head` at once, then `drip` one piece every `everyMs` (forever, until the server answers or
 * closes), and collects what the server sends until it closes the connection or `deadlineMs` passes.
 */
function slowRequest(url: string, head: string, drip: () => string, everyMs: number, deadlineMs = 5000): Promise<SlowAnswer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const started = performance.now();
    const chunks: Buffer[] = [];
    let done = false;
    const socket = net.connect(Number(port), hostname.replace(/^\[(.*)\]$/, "$1"));
    const finish = (ended: SlowAnswer["ended"]) => {
      if (done) return;
      done = true;
      clearInterval(dripping);
      clearTimeout(deadline);
      socket.destroy();
      const text = Buffer.concat(chunks).toString("latin1");
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ status: match ? Number(match[1]) : null, text, ended, ms: performance.now() - started });
    };
    const deadline = setTimeout(() => finish("deadline"), deadlineMs);
    const dripping = setInterval(() => {
      if (socket.writable) socket.write(drip());
    }, everyMs);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("end", () => finish("closed"));
    socket.on("close", () => finish("closed"));
    socket.on("error", () => finish(chunks.length > 0 ? "closed" : "reset"));
    socket.on("connect", () => socket.write(head));
  });
}

/** Writes one request on an open connection and reads its response (headers and Content-Length body). */
function exchange(socket: net.Socket, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const onData = (chunk: Buffer) => {
      text += chunk.toString("latin1");
      const split = text.indexOf("\r\n\r\n");
      if (split < 0) return;
      const length = Number(headerOf(text.slice(0, split + 2), "content-length") ?? 0);
      if (text.length < split + 4 + length) return;
      socket.off("data", onData);
      socket.off("close", onClose);
      resolve(text);
    };
    const onClose = () => reject(new Error(`the connection closed before the response was complete: ${JSON.stringify(text)}`));
    socket.on("data", onData);
    socket.once("close", onClose);
    socket.write(request);
  });
}

const headerOf = (text: string, name: string) => new RegExp(`^${name}: *(.*)\r$`, "im").exec(text)?.[1];
const bodyOf = (text: string) => text.slice(text.indexOf("\r\n\r\n") + 4);

describe("with HTTP_REQUEST_TIMEOUT=PT1S", () => {
  let app: RunningApp;
  beforeAll(async () => {
    app = await startApp({ HTTP_REQUEST_TIMEOUT: "PT1S" });
  });
  afterAll(() => app.stop());

  it.each([
    ["API", () => app.apiUrl, "GET /api/readyz HTTP/1.1\r\nHost: x\r\n"],
    ["ops", () => app.opsUrl, "GET /healthz HTTP/1.1\r\nHost: x\r\n"],
  ])("headers that never finish (a header line every 200 ms) are answered 408 on the %s listener and the connection closed", async (_listener, url, head) => {
    let n = 0;
    const answer = await slowRequest(url(), head, () => `X-Slow-${n++}: a\r\n`, 200);
    expect(answer.status, JSON.stringify(answer)).toBe(408);
    expect(answer.ended).toBe("closed");
    expect(headerOf(answer.text, "connection")).toBe("close");
    expect(headerOf(answer.text, "content-type")).toMatch(/^text\/plain/);
    expect(bodyOf(answer.text)).toBe("request timeout: the request's headers were not received within 1 s\n");
    expect(answer.ms).toBeLessThan(3000);
  });

  it("a body slower than the bound (POST to the bulk endpoint, Content-Length 100000, a byte every 200 ms, no token) is answered 408 and the connection closed", async () => {
    const head = `POST ${BULK_REPROCESS_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{`;
    const answer = await slowRequest(app.apiUrl, head, () => " ", 200);
    expect(answer.status, JSON.stringify(answer)).toBe(408);
    expect(answer.ended).toBe("closed");
    expect(headerOf(answer.text, "connection")).toBe("close");
    expect(bodyOf(answer.text)).toBe("request timeout: the whole request (headers and body) was not received within 1 s (HTTP_REQUEST_TIMEOUT)\n");
    expect(answer.ms).toBeLessThan(3000);
  });

  it("each 408 is counted as watchdog_http_faults_total{kind=\"request_timeout\"}, apart from the parser's refusals (client_error)", async () => {
    const faults = async (kind: string) => sample(await (await fetch(`${app.opsUrl}/metrics`)).text(), "watchdog_http_faults_total", { kind }) ?? 0;
    const [timeouts, refusals] = [await faults("request_timeout"), await faults("client_error")];
    const answer = await slowRequest(app.opsUrl, "GET /healthz HTTP/1.1\r\nHost: x\r\n", () => "X-Slow: a\r\n", 200);
    expect(answer.status).toBe(408);
    expect(await faults("request_timeout")).toBe(timeouts + 1);
    expect(await faults("client_error")).toBe(refusals);
  });

  it("a request sent at once is answered as usual, and a keep-alive connection idle for longer than the bound serves its next request", async () => {
    const { hostname, port } = new URL(app.apiUrl);
    const socket = net.connect(Number(port), hostname);
    await new Promise((resolve) => socket.once("connect", resolve));
    let closed = false;
    socket.on("close", () => (closed = true));
    try {
      const request = `GET ${TASK_STATUS_PATH}?taskId=999999 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ORG_7_TOKEN}\r\n\r\n`;
      expect(await exchange(socket, request)).toMatch(/^HTTP\/1\.1 404 /); // no such task: the route answered
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(closed).toBe(false);
      expect(await exchange(socket, request)).toMatch(/^HTTP\/1\.1 404 /);
    } finally {
      socket.destroy();
    }
  });
});
