// BullMQ's OpenTelemetry add-on for every Queue and Worker, once tracing started: a job's producer
// span (`add …`) travels with the job and the worker's `process …` span continues that trace.
// Without tracing no telemetry object exists and BullMQ does no tracing work at all.
import { BullMQOtel } from "bullmq-otel";
import { tracingStarted } from "./tracing/switch.js";

let telemetry: BullMQOtel | undefined;

export function queueTelemetry(): { telemetry?: BullMQOtel } {
  if (!tracingStarted()) return {};
  telemetry ??= new BullMQOtel({ tracerName: "task-watchdog" });
  return { telemetry };
}
