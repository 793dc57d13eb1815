// The TaskStatus lifecycle (docs/contract.md, "Statuses"). Numeric codes are the platform's public contract.

export type StatusKind = "transient" | "stable" | "archivable";

export interface StatusInfo {
  readonly code: number;
  readonly name: string;
  readonly kind: StatusKind;
}

export const STATUSES: readonly StatusInfo[] = [
  { code: 19, name: "Deleting", kind: "transient" },
  { code: 20, name: "Deleted", kind: "stable" },
  { code: 30, name: "QueuedForPreProcessing", kind: "transient" },
  { code: 31, name: "PreProcessingInProgress", kind: "transient" },
  { code: 32, name: "PreProcessingFailed", kind: "stable" },
  { code: 33, name: "PreProcessingDownloadFailed", kind: "stable" },
  { code: 34, name: "PreProcessingSuccessful", kind: "transient" },
  { code: 35, name: "PreProcessingGetPagesFailed", kind: "stable" },
  { code: 40, name: "QueuedForProcessing", kind: "transient" },
  { code: 41, name: "ProcessingInProgress", kind: "transient" },
  { code: 42, name: "ProcessingFailed", kind: "stable" },
  { code: 50, name: "ToReview", kind: "stable" },
  { code: 60, name: "QueuedForExport", kind: "transient" },
  { code: 61, name: "ExportInProgress", kind: "transient" },
  { code: 62, name: "ExportFailed", kind: "stable" },
  { code: 63, name: "ExportCompleted", kind: "archivable" },
  { code: 70, name: "Processed", kind: "archivable" },
];

export const TaskStatus = {
  Deleting: 19,
  Deleted: 20,
  QueuedForPreProcessing: 30,
  PreProcessingInProgress: 31,
  PreProcessingFailed: 32,
  PreProcessingDownloadFailed: 33,
  PreProcessingSuccessful: 34,
  PreProcessingGetPagesFailed: 35,
  QueuedForProcessing: 40,
  ProcessingInProgress: 41,
  ProcessingFailed: 42,
  ToReview: 50,
  QueuedForExport: 60,
  ExportInProgress: 61,
  ExportFailed: 62,
  ExportCompleted: 63,
  Processed: 70,
} as const;

const byCode = new Map(STATUSES.map((s) => [s.code, s]));
const byName = new Map(STATUSES.map((s) => [s.name.toLowerCase(), s]));

/** A status by its code (19) or its name ("Deleting", case-insensitive); undefined when unknown. */
export function findStatus(codeOrName: number | string): StatusInfo | undefined {
  if (typeof codeOrName === "number") return byCode.get(codeOrName);
  const trimmed = codeOrName.trim();
  if (/^\d+$/.test(trimmed)) return byCode.get(Number(trimmed));
  return byName.get(trimmed.toLowerCase());
}

/** The status's name, or "status N" for a code outside the contract (a newer platform's). */
export function statusName(code: number): string {
  return byCode.get(code)?.name ?? `status ${code}`;
}

/** {"19":"Deleting",…} as JSON: lets one SQL statement name the status each of its rows went to. */
export const STATUS_NAMES_JSON = JSON.stringify(Object.fromEntries(STATUSES.map((s) => [s.code, s.name])));

/**
 * The names by code as a SQL array (element `code` is its name, NULL between codes): a statement
 * names each row's status with one subscript, cheaper per row than a JSON lookup.
 */
export const STATUS_NAMES_BY_CODE: readonly (string | null)[] = Array.from({ length: Math.max(...STATUSES.map((s) => s.code)) }, (_, i) => STATUSES.find((s) => s.code === i + 1)?.name ?? null);

export const STABLE_STATUS_CODES: readonly number[] = STATUSES.filter((s) => s.kind === "stable").map((s) => s.code);

export function describeStatuses(kind: StatusKind): string {
  return STATUSES.filter((s) => s.kind === kind)
    .map((s) => `${s.name} (${s.code})`)
    .join(", ");
}
