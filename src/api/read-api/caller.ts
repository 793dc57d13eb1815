// Who is asking: the organization of the bearer token, checked exactly as restartprocessing
// checks it (every configured token compared in constant time, so timing tells nothing).
import type { IncomingHttpHeaders } from "node:http";
import type { ApiToken } from "../../platform/config/api-tokens.js";
import { bearerToken, secretEquals } from "../credentials.js";
import type { HttpOutput } from "../types.js";
import { refusal } from "./responses.js";

export type Caller = { ok: true; organizationId: number } | { ok: false; refusal: HttpOutput };

export function authenticate(tokens: readonly ApiToken[], headers: IncomingHttpHeaders): Caller {
  const presented = bearerToken(headers);
  let match: ApiToken | undefined;
  if (presented !== null) for (const t of tokens) if (secretEquals(presented, t.token) && !match) match = t;
  if (match) return { ok: true, organizationId: match.organizationId };
  const given = headers.authorization !== undefined;
  const challenge = `Bearer realm="task-watchdog"${given ? `, error="invalid_token"` : ""}`;
  return {
    ok: false,
    refusal: refusal(401, given ? "the bearer token is not valid" : "authentication required: send Authorization: Bearer <your API token>", { "www-authenticate": challenge }),
  };
}
