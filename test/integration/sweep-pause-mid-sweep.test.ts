// A pause stops a running sweep within one batch: a 100,000-task recovery is under way when an
// operator pauses; no batch starts after the pause is committed (every batch checks the open
// pauses inside its own statement, against its own snapshot), and the rest waits for `resume`.
import pg from "pg";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { buildRules } from "../../src/rules/rules.js";
import { TaskStatus as S } from "../../src/rules/status.js";
import { runSweep } from "../../src/sweep/run-sweep.js";
import { resetTables, testDatabaseUrl, testDb } from "../support/db.js";

const db = testDb();
beforeEach(() => resetTables(db));
afterAll(() => db.$disconnect());

const TASKS = 100_000;
const BATCH = 1000;

describe("a pause during a 100,000-task recovery", () => {
  it("no batch starts after the pause's commit; the sweep says it was paused; resumed, the next sweep finishes the rest", async () => {
    await db.$executeRaw`
      INSERT INTO tasks (organization_id, workspace_id, display_name, status, status_changed_at, original_payload)
      SELECT 1, 1 + g % 20, 'doc-' || g || '.pdf', ${S.QueuedForProcessing}::smallint, now() - interval '3 hours' - g * interval '1 millisecond', '{}'::jsonb
      FROM generate_series(1, ${TASKS}::int) AS g`;
    // No hold ("hold": false switches off both, level and rate): a recovery an operator let through.
    const rules = buildRules({ QueuedForProcessing: { hold: false } });

    // The operator's session: its own connection, as `watchdog pause` would be.
    const operator = new pg.Client({ connectionString: testDatabaseUrl() });
    await operator.connect();
    let committedBy: Date | undefined;
    let pausing: Promise<void> | undefined;
    let batches = 0;
    try {
      const sweep = runSweep(db, rules, {
        sweepId: "recovery",
        dryRun: false,
        batchSize: BATCH,
        onBatch: () => {
          batches += 1;
          // After the third batch, pause (every rule) while the sweep goes on.
          if (batches === 3) {
            pausing = (async () => {
              await operator.query(`INSERT INTO sweep_pauses (status, reason, paused_by) VALUES (NULL, 'recovery looks wrong', 'alice')`);
              // Read after COMMIT returned: the commit happened before this.
              committedBy = (await operator.query<{ t: Date }>(`SELECT clock_timestamp() AS t`)).rows[0]!.t;
            })();
          }
        },
      });
      const result = await sweep;
      await pausing;
      const [{ paused_at: pausedAt }] = (await operator.query<{ paused_at: Date }>(`SELECT paused_at FROM sweep_pauses`)).rows as [{ paused_at: Date }];
      // Each batch is one statement: its events carry its start time (now()).
      const starts = (await operator.query<{ started: Date; n: number }>(`SELECT created_at AS started, count(*)::int AS n FROM task_events WHERE sweep_id = 'recovery' GROUP BY created_at ORDER BY created_at`)).rows;
      expect(starts.every((b) => b.started.getTime() < committedBy!.getTime())).toBe(true);
      // At most the one batch in flight when the pause was written started after it began.
      expect(starts.filter((b) => b.started.getTime() > pausedAt.getTime()).length).toBeLessThanOrEqual(1);
      const done = starts.reduce((n, b) => n + b.n, 0);
      expect(done).toBe(result.reverted);
      expect(done).toBeLessThan(TASKS / 2);
      expect(result.pausedDuringSweep).toEqual(["QueuedForProcessing"]);

      // Resumed: the next sweep finishes the rest.
      await operator.query(`UPDATE sweep_pauses SET ended_at = now(), ended_how = 'RESUMED', ended_by = 'alice'`);
      const rest = await runSweep(db, rules, { sweepId: "after-resume", dryRun: false, batchSize: 10_000 });
      expect(done + rest.reverted).toBe(TASKS);
    } finally {
      await pausing?.catch(() => undefined);
      await operator.end();
    }
  }, 120_000);
});
