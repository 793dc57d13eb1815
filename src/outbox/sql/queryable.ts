import type pg from "pg";
import type { Db } from "../../platform/db/client.js";

/** What the outbox's statements run on: a pg pool or client (plain pg, no session state). */
export type Queryable = Pick<pg.ClientBase, "query">;

/** Prisma's raw query in node-postgres' shape, for the statements written against pg. */
export const asQueryable = (db: Db): Queryable => ({ query: (async (text: string, params: unknown[] = []) => ({ rows: await db.$queryRawUnsafe(text, ...params) })) as unknown as Queryable["query"] });
