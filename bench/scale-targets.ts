// The targets of the scale run (`npm run bench -- --scale`): the table of the tenant-scale issue,
// one entry each. A scale figure (bench/figures/scale-*.ts) says which of these it measures; the
// run prints every target, with its figures or "not measured in this run". The last two are not from
// that issue: "slow-endpoints" checks end to end the arithmetic docs/configuration.md gives for slow
// endpoints; "task-events" holds a task's audit trail to a page's cost however long the trail grows;
// "replay-range" holds a replay by time range to the range's events, not the months', however big the tenant.
export const SCALE_TARGETS = [
  {
    id: "relay-latency",
    text: "small organization's event delivered after its commit, while a big organization's 50,000-event burst is relayed, 10,000 organizations with endpoints",
    target: "≤ 10 s, and ≤ 10 s with a transaction held open elsewhere for 60 s",
  },
  { id: "relay-db-time", text: "relay database time per round: 10,000 organizations vs 10 organizations, same new events", target: "≤ 2×" },
  { id: "status-list", text: "status list page, every filter alone and combined, 2M-task organization, first and later pages", target: "p95 ≤ 100 ms; rows read ≤ 10× page size" },
  { id: "metrics-scrape", text: "/metrics scrape with 50,000 workspaces, 5 replicas scraped every 2 s", target: "p95 ≤ 200 ms; stuck-gauge database time ≤ 1 s per minute for the whole deployment" },
  { id: "auth-p95", text: "authenticated request p95 with 10,000 tenants vs 1", target: "≤ 1.5× (and the worker starts)" },
  { id: "pruning", text: "pruning one month of events at 100M rows", target: "does not grow with the table (partition drop or bounded batches)" },
  { id: "pgbouncer", text: "worker through PgBouncer (transaction mode)", target: "the whole suite's sweep, reprocess and relay tests pass through it" },
  {
    id: "slow-endpoints",
    text: "webhook deliveries per second of one replica, every organization backlogged, endpoints that answer in 200 ms",
    target: "≥ 0.9× what the settings allow: min(organizations, WEBHOOK_CONCURRENCY) × WEBHOOK_ENDPOINT_CONCURRENCY ÷ 200 ms",
  },
  {
    id: "task-events",
    text: "a task's events page (GET …/sdtask/events) and the console's trail, a task with 300,000 of 2M events",
    target: "p95 ≤ 100 ms; rows read ≤ 2× the page",
  },
  {
    id: "replay-range",
    text: "webhook replay of one organization's events in a time range (its selection): the biggest tenant's hour, a small tenant's month, a range over the limit, in a month of 4M events",
    target: "p95 ≤ 100 ms; rows read ≤ 2× the fewer of the range's events (every organization's) and the organization's events of the range's months",
  },
] as const;

export type ScaleTargetId = (typeof SCALE_TARGETS)[number]["id"];
