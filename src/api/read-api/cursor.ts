// Keyset cursors: opaque to clients (base64url of {"k": what it pages, "after": the last id}),
// so the order can change later without breaking a client that only passes them back.
// A cursor of one endpoint is refused by another.
import { z } from "zod";

export type CursorKind = "tasks" | "events" | "bulkItems";

export function encodeCursor(kind: CursorKind, after: bigint | number): string {
  return Buffer.from(JSON.stringify({ k: kind, after: String(after) }), "utf8").toString("base64url");
}

const Payload = z.strictObject({ k: z.enum(["tasks", "events", "bulkItems"]), after: z.string().regex(/^[1-9][0-9]{0,18}$/) });

/** The id after which the next page starts, or undefined when `text` is not a cursor of `kind`. */
export function decodeCursor(kind: CursorKind, text: string, maxAfter: bigint): bigint | undefined {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(text)) return undefined;
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
  } catch {
    return undefined;
  }
  const parsed = Payload.safeParse(payload);
  if (!parsed.success || parsed.data.k !== kind) return undefined;
  const after = BigInt(parsed.data.after);
  return after <= maxAfter ? after : undefined;
}

/** A zod schema for a `cursor` parameter of `kind`: the string in, the id after which to start out. */
export const cursorParam = (kind: CursorKind, maxAfter: bigint) =>
  z
    .string()
    .transform((text, ctx) => {
      const after = decodeCursor(kind, text, maxAfter);
      if (after === undefined) {
        ctx.addIssue({ code: "custom", message: "is not a cursor this endpoint gave out (pass nextCursor back unchanged, or leave cursor out to start at the beginning)", input: text });
        return z.NEVER;
      }
      return after;
    })
    .optional()
    .meta({ description: "The `nextCursor` of the previous page, unchanged. Leave out for the first page." });
