// A BullMQ Worker that survives job data that is not JSON. BullMQ parses a job's stored data while
// fetching it, outside the processor: a parse error there leaves the job "active" with nobody
// working on it until the stalled check moves it back (and again, and again). Here such a job is
// handed to the processor with an UnparsableJobData in place of its data, and the processor fails
// it at once as a BadRequest (an UnrecoverableError: never retried).
import type { Job, JobJson } from "bullmq";
import { DrainableWorker } from "./drain-worker.js";

export class UnparsableJobData {
  constructor(
    /** The stored text, cut to a length fit for a message. */
    readonly text: string,
    readonly error: string,
  ) {}
}

/** "BadRequest: job data is not JSON …", or null for data that parsed. */
export function unparsableJobDataMessage(data: unknown, example: string): string | null {
  if (!(data instanceof UnparsableJobData)) return null;
  return `BadRequest: job data is not JSON (${data.error}; it begins ${JSON.stringify(data.text)}): send a JSON object such as ${example}`;
}

/** The refusal of a job whose name its queue does not take, the name cut to a length fit for a message. */
export function unknownJobNameMessage(name: string, queue: string, only: string): string {
  return `BadRequest: unknown job name ${JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name)} on ${queue}; the only job is "${only}"`;
}

// A DrainableWorker too: its shutdown cannot hang (drain-worker.ts).
export class JobDataWorker<DataType, ResultType> extends DrainableWorker<DataType, ResultType> {
  protected override createJob(json: JobJson, jobId: string): Job<DataType, ResultType, string> {
    try {
      return super.createJob(json, jobId);
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
      const job = super.createJob({ ...json, data: "{}" }, jobId);
      job.data = new UnparsableJobData(String(json.data ?? "").slice(0, 80), error.message.slice(0, 120)) as DataType;
      return job;
    }
  }
}
