import type { ApiToken } from "../../platform/config/api-tokens.js";
import type { Db } from "../../platform/db/client.js";
import type { Rule } from "../../rules/rules.js";

/** What every read API handler needs: the API tokens, the database, and the effective rules ("is it stuck"). */
export interface ReadApiDeps {
  tokens: readonly ApiToken[];
  db: Db;
  rules: readonly Rule[];
}
