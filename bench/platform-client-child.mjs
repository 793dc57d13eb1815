// The platform's writes in a process of their own (the platform is never in the watchdog's
// process, and the watchdog's JavaScript must not delay the platform's timings): one task's status
// changed by id, one statement at a time on one connection, each timed. Commands are JSON lines on
// stdin, each answered by one JSON line on stdout:
//   {"run": N}    N updates, then {"latencies": [ms, …]}
//   {"start": true}  updates until {"stop": true}, then {"latencies": [ms, …]}
// argv: the database URL and the task ids to update (comma-separated).
import readline from "node:readline";
import pg from "pg";

// Between two stable statuses (ToReview 50 ↔ PreProcessingDownloadFailed 33): a real status change, trigger and
// both indexes included, on rows no rule sweeps.
const PLATFORM_UPDATE = "UPDATE tasks SET status = CASE WHEN status = 50 THEN 33 ELSE 50 END WHERE id = $1";

const [databaseUrl, idList] = process.argv.slice(2);
const ids = idList.split(",").map(Number);
const client = new pg.Client({ connectionString: databaseUrl });
await client.connect();

let next = 0;
let running = false;
let loop = Promise.resolve([]);
const oneUpdate = async () => {
  const started = performance.now();
  await client.query(PLATFORM_UPDATE, [ids[next++ % ids.length]]);
  return performance.now() - started;
};
const answer = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);

for await (const line of readline.createInterface({ input: process.stdin })) {
  const command = JSON.parse(line);
  if (command.run !== undefined) {
    const latencies = [];
    for (let i = 0; i < command.run; i++) latencies.push(await oneUpdate());
    answer({ latencies });
  } else if (command.start) {
    running = true;
    loop = (async () => {
      const latencies = [];
      while (running) latencies.push(await oneUpdate());
      return latencies;
    })();
    answer({ started: true });
  } else if (command.stop) {
    running = false;
    answer({ latencies: await loop });
  }
}
await client.end();
