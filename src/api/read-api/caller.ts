// Who is asking: the organization of the bearer token, by the one authentication of the customer
// API (src/api/authenticate.ts), worded as the read API's JSON refusal when there is none.
import type { IncomingHttpHeaders } from "node:http";
import { bearerChallenge, type Authenticate } from "../authenticate.js";
import type { HttpOutput } from "../types.js";
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
