// The OpenAPI document: valid OpenAPI 3.1 (checked by a kept validator, not by eye), the file in
// the repository is the one the code builds, every route the running worker answers is
// described on the right listener and nothing else is, and the worker serves it without a token.
import { readFileSync } from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BOARD_PATH } from "../../src/ops/bull-board.js";
import { ApiReadiness, Health, openApiDocument, OPENAPI_PATH, Readiness, SweepHealth } from "../../src/api/openapi/document.js";
import { API_READINESS_PATH } from "../../src/api/readiness-path.js";
import { startApp, type RunningApp } from "./http-app.js";

type Operations = Record<string, unknown> & { servers?: { url: string }[] };
const document = openApiDocument() as { openapi: string; paths: Record<string, Operations> };
const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

let app: RunningApp;
beforeAll(async () => {
  app = await startApp();
});
afterAll(() => app.stop());

describe("the OpenAPI document", () => {
  it("is valid OpenAPI 3.1, and every $ref in it resolves", async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(document) as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
    expect(() => validator.resolveRefs()).not.toThrow();
    const refs = [...JSON.stringify(document).matchAll(/"\$ref":"#\/([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(10);
    for (const ref of refs) expect(ref.split("/").reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], document), ref).toBeDefined();
  });

  it("the validator is not a formality: a copy with an operation lacking its responses is refused", async () => {
    const broken = structuredClone(document) as { paths: Record<string, Record<string, { responses?: unknown }>> };
    delete broken.paths[OPENAPI_PATH]!.get!.responses;
    broken.paths[OPENAPI_PATH]!.get!.responses = { "200": { content: 5 } };
    expect((await new Validator().validate(broken as never)).valid).toBe(false);
  });

  it("docs/openapi.json is the document the code builds (regenerate: npm run -s openapi > docs/openapi.json)", () => {
    const checkedIn = readFileSync(new URL("../../docs/openapi.json", import.meta.url), "utf8");
    expect(checkedIn).toBe(`${JSON.stringify(document, null, 2)}\n`);
  });

  it("describes every route the worker answers, on its listener, and nothing it does not answer", () => {
    const { api, ops } = app.watchdog.routes;
    const served = [...api.map((r) => ({ ...r, listener: "api" })), ...ops.map((r) => ({ ...r, listener: "ops" })), { method: "GET", path: BOARD_PATH, listener: "ops" }];
    expect(api.length).toBeGreaterThanOrEqual(5);
    const listenerOf = (path: string) => (document.paths[path]?.servers?.[0]?.url.includes("{opsPort}") ? "ops" : "api");
    for (const route of served) {
      expect(document.paths[route.path]?.[route.method.toLowerCase()], `${route.method} ${route.path} is not in the document`).toBeDefined();
      expect(listenerOf(route.path), `${route.method} ${route.path} is described on the wrong listener`).toBe(route.listener);
    }
    const described = Object.entries(document.paths).flatMap(([path, item]) => METHODS.filter((m) => m in item).map((m) => `${m.toUpperCase()} ${path}`));
    expect(described.sort()).toEqual(served.map((r) => `${r.method} ${r.path}`).sort());
  });

  it("every operation of the external API declares its refusals: 400 and 401 with their headers, bearer auth unless public", () => {
    for (const route of app.watchdog.routes.api) {
      const operation = document.paths[route.path]![route.method.toLowerCase()] as { security?: unknown[]; responses: Record<string, { headers?: Record<string, unknown> }> };
      if (route.path === OPENAPI_PATH || route.path === API_READINESS_PATH) {
        expect(operation.security).toEqual([]);
        continue;
      }
      expect(operation.security, route.path).toBeUndefined(); // the document's default: bearerAuth
      expect(Object.keys(operation.responses[400]!.headers ?? {}), route.path).toContain("X-Error");
      expect(Object.keys(operation.responses[401]!.headers ?? {}), route.path).toContain("WWW-Authenticate");
    }
  });

  it("the ops listener's real answers match the schemas described for them, and the API listener's readiness too", async () => {
    for (const [url, path, schema] of [
      [app.opsUrl, "/healthz", Health],
      [app.opsUrl, "/readyz", Readiness],
      [app.opsUrl, "/health/sweeps", SweepHealth],
      [app.apiUrl, API_READINESS_PATH, ApiReadiness],
    ] as const) {
      const response = await fetch(`${url}${path}`);
      const body: unknown = await response.json();
      expect(Object.keys((document.paths[path]!.get as { responses: object }).responses), path).toContain(String(response.status));
      expect(schema.safeParse(body).error?.issues ?? [], `${path}: ${JSON.stringify(body)}`).toEqual([]);
    }
  });

  it("is served at GET /api/openapi.json without a token, naming the API listener as bound and never the ops listener's address", async () => {
    const response = await fetch(`${app.apiUrl}${OPENAPI_PATH}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    const text = await response.text();
    const served = JSON.parse(text) as typeof document & { servers: { variables: Record<string, { default: string }> }[] };
    const [api, ops] = [new URL(app.apiUrl), new URL(app.opsUrl)];
    expect(served.servers[0]!.variables).toEqual({ apiHost: { default: api.hostname }, apiPort: { default: api.port } });
    // The ops listener (health, metrics, Bull Board) is internal: anyone may read this document, so
    // it names the documented defaults (OPS_HOST, OPS_PORT), not where this worker bound it.
    expect(ops.port).not.toBe("3001");
    expect((served.paths["/healthz"]!.servers as unknown as { variables: unknown }[])[0]!.variables).toEqual({ opsHost: { default: "127.0.0.1" }, opsPort: { default: "3001" } });
    expect(text).not.toContain(`"${ops.port}"`);
    // Apart from where it is served, the document is the one in the repository.
    expect(withDefaultServers(served)).toEqual(document);
  });
});

/** The document with the listeners' defaults of docs/openapi.json (127.0.0.1:3000 and :3001). */
function withDefaultServers(served: unknown): unknown {
  return JSON.parse(JSON.stringify(served).replace(/"apiHost":\{"default":"[^"]*"\},"apiPort":\{"default":"\d+"\}/, '"apiHost":{"default":"127.0.0.1"},"apiPort":{"default":"3000"}').replaceAll(/"opsHost":\{"default":"[^"]*"\},"opsPort":\{"default":"\d+"\}/g, '"opsHost":{"default":"127.0.0.1"},"opsPort":{"default":"3001"}'));
}
