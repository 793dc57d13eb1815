// Comparing presented credentials with configured ones without leaking, through timing, how much
// of a secret matched or how long it is: both sides are hashed to equal length first.
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";

const digest = (s: string) => createHash("sha256").update(s, "utf8").digest();

export function secretEquals(presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected));
}

/** The credentials of an `Authorization: Basic …` header, or null when there are none. */
export function basicCredentials(headers: IncomingHttpHeaders): { user: string; password: string } | null {
  const match = /^Basic\s+([A-Za-z0-9+/]+=*)\s*$/i.exec(headers.authorization ?? "");
  if (!match) return null;
  const decoded = Buffer.from(match[1]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** The token of an `Authorization: Bearer …` header, or null. */
export function bearerToken(headers: IncomingHttpHeaders): string | null {
  const match = /^Bearer\s+([A-Za-z0-9\-._~+/]+=*)\s*$/i.exec(headers.authorization ?? "");
  return match ? match[1]! : null;
}

/** True when the headers carry exactly the configured user and password (both compared in constant time). */
export function basicAuthMatches(headers: IncomingHttpHeaders, expected: { user: string; password: string }): boolean {
  const given = basicCredentials(headers);
  if (!given) return false;
  // Both comparisons always run: a wrong user costs the same time as a wrong password.
  const userOk = secretEquals(given.user, expected.user);
  const passwordOk = secretEquals(given.password, expected.password);
  return userOk && passwordOk;
}
