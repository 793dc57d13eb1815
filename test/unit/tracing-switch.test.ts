// Tracing is off unless the standard OTEL_* variables switch it on.
import { expect, it } from "vitest";
import { startTracing } from "../../src/platform/tracing/start.js";
import { tracesExporterFrom } from "../../src/platform/tracing/switch.js";

it.each([
  [{}, undefined],
  [{ OTEL_SERVICE_NAME: "x" }, undefined],
  [{ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" }, "otlp"],
  [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://collector:4318/v1/traces" }, "otlp"],
  [{ OTEL_TRACES_EXPORTER: "otlp" }, "otlp"],
  [{ OTEL_TRACES_EXPORTER: "console" }, "console"],
  [{ OTEL_TRACES_EXPORTER: "none", OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" }, undefined],
  [{ OTEL_SDK_DISABLED: "true", OTEL_TRACES_EXPORTER: "otlp" }, undefined],
  [{ OTEL_SDK_DISABLED: "false", OTEL_TRACES_EXPORTER: "otlp" }, "otlp"],
] as const)("OTEL variables %j → %s", (env, expected) => {
  expect(tracesExporterFrom(env)).toBe(expected);
});

it("without OTEL_* variables, startTracing starts nothing", async () => {
  expect(await startTracing({ env: {} })).toBeUndefined();
});
