/** PostgreSQL `integer`, the type of every id column: an id beyond it can never match a row. */
export const MAX_ID = 2_147_483_647;

/** PostgreSQL `bigint` (task_events.id, operator_actions.id): a larger id never reaches a query, whose cast would fail. */
export const MAX_BIGINT_ID = 9_223_372_036_854_775_807n;

/** An id as text (`"42"`, surrounding blanks allowed): a whole number from 1 to MAX_ID, else undefined. */
export function parseId(text: string): number | undefined {
  const trimmed = text.trim();
  return /^\d+$/.test(trimmed) && Number(trimmed) >= 1 && Number(trimmed) <= MAX_ID ? Number(trimmed) : undefined;
}
