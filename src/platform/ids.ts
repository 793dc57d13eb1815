/** PostgreSQL `integer`, the type of every id column: an id beyond it can never match a row. */
export const MAX_ID = 2_147_483_647;
