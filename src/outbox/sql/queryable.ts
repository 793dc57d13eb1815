import type pg from "pg";

/** What the outbox's statements run on: a pg pool or client (plain pg, no session state). */
export type Queryable = Pick<pg.ClientBase, "query">;
