// Child process of test/integration/tracing.test.ts:
//   node --import tsx --import ./test/support/traced-preload.ts test/support/traced-worker.ts
// Starts the whole worker from the environment, sends PATCH restartprocessing for TRACE_TASK_ID,
// waits for the REPROCESSED event, stops, and prints the finished spans and the log lines as JSON.
import { setTimeout as sleep } from "node:timers/promises";
import { exporter } from "./traced-preload.js";
import { startWatchdog } from "../../src/app.js";
import { loadConfig } from "../../src/platform/config/load-config.js";
import { buildRules } from "../../src/rules/rules.js";
import { RESTART_PROCESSING_PATH } from "../../src/api/restart-processing.js";
import { createLogger } from "../../src/platform/logger.js";

const taskId = Number(process.env.TRACE_TASK_ID);
const logs: string[] = [];
const logger = createLogger({ level: "info", destination: { write: (line: string) => void logs.push(line) } });
const watchdog = await startWatchdog(loadConfig(process.env), buildRules(), logger);
let status = 0;
try {
  const response = await fetch(`${watchdog.apiUrl}${RESTART_PROCESSING_PATH}?taskId=${taskId}`, { method: "PATCH", headers: { authorization: `Bearer ${process.env.TRACE_TOKEN}` } });
  status = response.status;
  const deadline = Date.now() + 15_000;
  for (;;) {
    const [row] = await watchdog.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM task_events WHERE task_id = ${taskId} AND kind = 'REPROCESSED'`;
    if (row!.n > 0 || Date.now() > deadline) break;
    await sleep(50);
  }
  // The worker's `process` span ends just after the job's statement.
  await sleep(300);
} finally {
  await watchdog.close();
}
const spans = exporter.getFinishedSpans().map((s) => ({
  name: s.name,
  kind: s.kind,
  traceId: s.spanContext().traceId,
  spanId: s.spanContext().spanId,
  parentSpanId: s.parentSpanContext?.spanId,
  attributes: s.attributes,
}));
process.stdout.write(`${JSON.stringify({ status, spans, logs: logs.map((l) => JSON.parse(l) as unknown) })}\n`);
