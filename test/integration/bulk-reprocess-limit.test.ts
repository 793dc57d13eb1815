// The cap on an organization's running bulk reprocesses (BULK_REPROCESS_MAX_RUNNING), over HTTP
// against two replicas of the whole worker (startApp twice, one deployment): a start past the cap
// is a 409 naming the limit, the running bulks and what to do; a retry of a bulk already started
// (its Idempotency-Key) is still answered with it; a dry run is not a start; another organization
// has its own cap; two starts at once at the limit minus one, one on each replica, never both
// get in; and a start that finds its organization's start lock taken is answered at once, not
// holding a connection while another organization's requests wait. BULK_REPROCESS_RATE=1 keeps
// every bulk of these tests running (100 tasks each, at 1/s).
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { TaskStatus as S } from "../../src/rules/status.js";
import { BulkProgressBody } from "../../src/reprocess/bulk-bodies.js";
import { holdTransaction, insertTasks, resetTables, testDb } from "../support/db.js";
import { cancelBulk, postBulk } from "../support/bulk.js";
import { ORG_7_TOKEN, ORG_8_TOKEN, startApp, type RunningApp } from "./http-app.js";

const db = testDb();
const LIMIT = 3;
let replicaA: RunningApp;
let replicaB: RunningApp;

beforeAll(async () => {
  const env = { BULK_REPROCESS_RATE: "1", BULK_REPROCESS_MAX_RUNNING: String(LIMIT) };
  replicaA = await startApp(env);
  replicaB = await startApp(env, { prefix: replicaA.prefix });
});
afterAll(async () => {
  await replicaB.stop();
  await replicaA.stop();
  await db.$disconnect();
});
beforeEach(async () => {
  await resetTables(db);
  await insertTasks(db, [
    ...Array.from({ length: 100 }, () => ({ status: S.ProcessingFailed, ageSeconds: 60, organizationId: 7 })),
    ...Array.from({ length: 100 }, () => ({ status: S.ProcessingFailed, ageSeconds: 60, organizationId: 8 })),
  ]);
});
afterEach(async () => {
  await db.$executeRaw`UPDATE bulk_reprocesses SET state = 'CANCELLED', finished_at = now() WHERE state = 'RUNNING'`;
});

const ORG_7_IDS = Array.from({ length: 100 }, (_, i) => i + 1);
const ORG_8_IDS = Array.from({ length: 100 }, (_, i) => i + 101);

function start(key: string, options: { app?: RunningApp; token?: string; query?: string } = {}) {
  const token = options.token ?? ORG_7_TOKEN;
  return postBulk((options.app ?? replicaA).apiUrl, { body: { taskIds: token === ORG_7_TOKEN ? ORG_7_IDS : ORG_8_IDS }, key, token, ...(options.query ? { query: options.query } : {}) });
}

async function accepted(response: Response) {
  const json = await response.json();
  expect(response.status, JSON.stringify(json)).toBe(202);
  return BulkProgressBody.parse(json);
}

const running = async (organizationId: number) =>
  (await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM bulk_reprocesses WHERE organization_id = ${organizationId}::int AND state = 'RUNNING'`)[0]!.n;

describe("BULK_REPROCESS_MAX_RUNNING", () => {
  it("refuses a start past the cap (409, naming the limit, the running bulks and what to do); a retry of a started bulk, a dry run and another organization are not refused; a cancel makes room", async () => {
    const bulks = [];
    for (let i = 1; i <= LIMIT; i++) bulks.push(await accepted(await start(`k${i}`)));

    const refused = await start("k4");
    const error = refused.headers.get("x-error") ?? "";
    expect(refused.status, error).toBe(409);
    expect(await refused.json()).toEqual({ error });
    expect(error).toBe(
      `your organization already has ${LIMIT} bulk reprocesses running, the most it may run at once (BULK_REPROCESS_MAX_RUNNING = ${LIMIT}): ` +
        `${bulks.map((b) => b.bulkId).join(", ")}; wait for one to finish (GET /api/v1.0/external/sdtask/restartprocessing/bulk?bulkId=<bulkId>) ` +
        `or cancel one (POST /api/v1.0/external/sdtask/restartprocessing/bulk/cancel?bulkId=<bulkId>), then send this request again with the same Idempotency-Key; nothing was started`,
    );
    expect(await running(7)).toBe(LIMIT);

    // The retry of a bulk already started gets it back, on either replica: the cap is for new bulks.
    for (const app of [replicaA, replicaB]) {
      const again = await start("k1", { app });
      expect(again.headers.get("idempotent-replayed")).toBe("true");
      expect((await accepted(again)).bulkId).toBe(bulks[0]!.bulkId);
    }
    // A preview starts nothing, so it is answered.
    expect((await start("ignored", { query: "?dryRun=true" })).status).toBe(200);
    // Another organization counts its own.
    await accepted(await start("k1", { token: ORG_8_TOKEN }));

    // Once one is cancelled, the refused request is accepted with the same key.
    expect((await cancelBulk(replicaA.apiUrl, ORG_7_TOKEN, bulks[1]!.bulkId)).status).toBe(200);
    await accepted(await start("k4", { app: replicaB }));
    expect(await running(7)).toBe(LIMIT);
  });

  it("two starts at once at the limit minus one, one on each replica: exactly one is accepted, the other refused — by the cap, or at once while the first holds the start lock (ten rounds)", async () => {
    for (let i = 1; i < LIMIT; i++) await accepted(await start(`before-${i}`));
    for (let round = 1; round <= 10; round++) {
      const answers = await Promise.all([start(`race-${round}-a`, { app: replicaA }), start(`race-${round}-b`, { app: replicaB })]);
      const statuses = answers.map((r) => r.status).sort();
      expect([[202, 409], [202, 503]], `round ${round}: ${statuses.join(", ")}`).toContainEqual(statuses);
      expect(await running(7), `round ${round}`).toBe(LIMIT);
      const winner = await accepted(answers.find((r) => r.status === 202)!);
      // The refused start, sent again, is refused by the cap: the winner counts.
      const loser = answers.findIndex((r) => r.status !== 202) === 0 ? "a" : "b";
      expect((await start(`race-${round}-${loser}`)).status, `round ${round}`).toBe(409);
      expect((await cancelBulk(replicaA.apiUrl, ORG_7_TOKEN, winner.bulkId)).status).toBe(200);
    }
  });

  it("the same new key sent twice at once at the limit minus one, one on each replica, starts one bulk: both answers name it, or the second is told to retry and its retry names it", async () => {
    for (let i = 1; i < LIMIT; i++) await accepted(await start(`before-${i}`));
    const answers = await Promise.all([start("same", { app: replicaA }), start("same", { app: replicaB })]);
    const retried = await Promise.all(answers.map((r) => (r.status === 503 ? start("same") : r)));
    expect(answers.filter((r) => r.status === 503).length).toBeLessThanOrEqual(1);
    const bodies = await Promise.all(retried.map(accepted));
    expect(bodies[0]!.bulkId).toBe(bodies[1]!.bulkId);
    expect(retried.filter((r) => r.headers.get("idempotent-replayed") === "true")).toHaveLength(1);
    expect(await running(7)).toBe(LIMIT);
  });

  it("a start that finds its organization's start lock taken is a 503 at once (Retry-After, naming why), holding no connection; meanwhile another organization's start, a retry of a started bulk and a dry run are answered; the retry is accepted once the lock is free", async () => {
    const before = await accepted(await start("before"));
    // A replica whose pool two waiting starts would fill (REPROCESS_CONCURRENCY + 1 connections).
    const narrow = await startApp({ BULK_REPROCESS_RATE: "1", BULK_REPROCESS_MAX_RUNNING: String(LIMIT), REPROCESS_CONCURRENCY: "1", DATABASE_POOL_SIZE: "2" }, { prefix: replicaA.prefix });
    // Another start of organization 7 caught holding the lock (inserting 50,000 items, a stuck replica).
    const lock = await holdTransaction(`SELECT pg_advisory_xact_lock(hashtextextended('task-watchdog-bulk-reprocess-start:7', 0))`);
    let answers: { refused: Response[]; other: Response; retried: Response; preview: Response };
    try {
      // Answered while the lock is still held. A start that waited for it would hold both of the
      // narrow replica's connections for lock_timeout (15 s), and organization 8's start would wait
      // for a connection past DATABASE_CONNECT_TIMEOUT (10 s): a 503 of its own.
      const [a, b, other] = await Promise.all([start("refused-a", { app: narrow }), start("refused-b", { app: narrow }), start("k1", { app: narrow, token: ORG_8_TOKEN })]);
      answers = { refused: [a, b], other, retried: await start("before", { app: narrow }), preview: await start("ignored", { app: narrow, query: "?dryRun=true" }) };
    } finally {
      await lock.release();
      await narrow.stop();
    }
    // Organization 8 is not held up by organization 7's starts.
    expect((await accepted(answers.other)).state).toBe("running");
    for (const refused of answers.refused) {
      const error = refused.headers.get("x-error") ?? "";
      expect({ status: refused.status, retryAfter: refused.headers.get("retry-after"), error }).toEqual({
        status: 503,
        retryAfter: "2",
        error:
          "another bulk reprocess start of your organization is in progress (it holds the organization's start lock while it inserts its bulk); " +
          "nothing was started: send this request again with the same Idempotency-Key after Retry-After (2 s)",
      });
      expect(await refused.json()).toEqual({ error });
    }
    expect(answers.retried.headers.get("idempotent-replayed")).toBe("true");
    expect((await accepted(answers.retried)).bulkId).toBe(before.bulkId);
    expect(answers.preview.status).toBe(200);
    expect(await running(7)).toBe(1);
    expect((await accepted(await start("refused-a"))).state).toBe("running");
    expect(await running(7)).toBe(2);
  });
});
