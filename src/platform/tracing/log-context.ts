// The active span's ids for pino's mixin: each log line written inside a traced request or job
// carries trace_id and span_id (OpenTelemetry's log field names), so logs and traces join up.
import { context, isSpanContextValid, trace } from "@opentelemetry/api";

export function traceLogFields(): Record<string, string> {
  const span = trace.getSpanContext(context.active());
  return span && isSpanContextValid(span) ? { trace_id: span.traceId, span_id: span.spanId } : {};
}
