// Who is asking: the organization of the bearer token, by the one authentication of the customer
// API (src/api/authenticate.ts), worded as the read API's JSON refusal when there is none.
import type { IncomingHttpHeaders } from "node:http";
import { bearerChallenge, type Authenticate } from "../authenticate.js";
import type { z } from "zod";
import type { HttpInput, HttpOutput } from "../types.js";
import { parseQuery } from "../query.js";
import { refusal } from "./responses.js";

export type Caller = { ok: true; organizationId: number; /** Names the token in audit trails (8 hex digits of its SHA-256). */ fingerprint: string } | { ok: false; refusal: HttpOutput };

export async function authenticate(authenticateRequest: Authenticate, headers: IncomingHttpHeaders): Promise<Caller> {
  const result = await authenticateRequest(headers);
  if (result.ok) return { ok: true, organizationId: result.organizationId, fingerprint: result.fingerprint };
  return {
    ok: false,
    refusal: refusal(401, result.presented ? "the bearer token is not valid" : "authentication required: send Authorization: Bearer <your API token>", { "www-authenticate": bearerChallenge(result.presented) }),
  };
}

/**
 * The opening of every authenticated read: who is asking (401 without a valid token, before the
 * query is even looked at), then the query as `schema` says (400 naming what is wrong).
 */
export async function callerAndQuery<S extends z.ZodObject>(
  authenticateRequest: Authenticate,
  input: HttpInput,
  schema: S,
  lists: readonly string[] = [],
): Promise<{ ok: true; caller: Extract<Caller, { ok: true }>; query: z.output<S> } | { ok: false; refusal: HttpOutput }> {
  const caller = await authenticate(authenticateRequest, input.headers);
  if (!caller.ok) return caller;
  const query = parseQuery(schema, Object.keys(schema.shape), input.query, lists);
  if (!query.ok) return { ok: false, refusal: refusal(400, query.error) };
  return { ok: true, caller, query: query.value };
}
