// API_TOKENS: who may call the HTTP API, and for which organization. Format:
//   API_TOKENS=<token>:<organizationId>[,<token>:<organizationId>…]
// Each token belongs to exactly one organization; an organization may have several tokens (so a
// token can be rotated without downtime). Errors name the entry by position, never by value.
import { MAX_ID } from "../ids.js";

export interface ApiToken {
  readonly token: string;
  readonly organizationId: number;
}

export const MIN_TOKEN_LENGTH = 24;
// RFC 6750 b64token: what may travel after "Bearer " unquoted.
const TOKEN_CHARS = /^[A-Za-z0-9\-._~+/]+=*$/;

export function parseApiTokens(raw: string): { value: ApiToken[] } | { error: string } {
  const tokens: ApiToken[] = [];
  const problems: string[] = [];
  const entries = raw.split(",").map((e) => e.trim());
  entries.forEach((entry, i) => {
    const where = `entry ${i + 1} of ${entries.length}`;
    const colon = entry.lastIndexOf(":");
    if (colon < 0) return problems.push(`${where} has no ":<organizationId>"`);
    const token = entry.slice(0, colon).trim();
    const org = entry.slice(colon + 1).trim();
    const organizationId = Number(org);
    if (!/^\d+$/.test(org) || !Number.isSafeInteger(organizationId) || organizationId < 1 || organizationId > MAX_ID) {
      return problems.push(`${where} has an organization id that is not a whole number from 1 to ${MAX_ID}`);
    }
    if (token.length < MIN_TOKEN_LENGTH) return problems.push(`${where} has a token shorter than ${MIN_TOKEN_LENGTH} characters`);
    if (!TOKEN_CHARS.test(token)) return problems.push(`${where} has a token with characters outside A-Z a-z 0-9 - . _ ~ + / (and trailing =)`);
    if (tokens.some((t) => t.token === token)) return problems.push(`${where} repeats an earlier token; each token belongs to one organization`);
    tokens.push({ token, organizationId });
  });
  if (problems.length > 0) {
    return { error: `${problems.join("; ")}. Expected "<token>:<organizationId>" pairs separated by commas, tokens of at least ${MIN_TOKEN_LENGTH} characters (e.g. from \`openssl rand -hex 24\`)` };
  }
  return { value: tokens };
}
