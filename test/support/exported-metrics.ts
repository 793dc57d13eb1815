// Which metric names a /metrics exposition exports, and which a PromQL expression names: for the
// tests that hold deploy/ (dashboard, alert rules) to what the worker really serves.

/**
 * A family counts once its TYPE line is there (a labelled counter not yet incremented has no
 * samples); a histogram's or summary's series carry _bucket, _sum and _count.
 */
export function exportedMetricNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name!);
    if (type === "histogram" || type === "summary") for (const suffix of ["_bucket", "_sum", "_count"]) names.add(`${name}${suffix}`);
  }
  return names;
}

/** Metric names in a PromQL expression: identifiers outside quotes with our metrics' prefixes. */
export const metricNamesIn = (expr: string) => [...expr.replace(/"(?:[^"\\]|\\.)*"/g, '""').matchAll(/\b(?:watchdog|process|nodejs)_[a-zA-Z0-9_]+\b/g)].map((m) => m[0]);
