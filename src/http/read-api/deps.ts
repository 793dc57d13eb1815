import type { ApiToken } from "../../config/api-tokens.js";
import type { Db } from "../../db/client.js";
import type { Rule } from "../../domain/rules.js";

/** What every read API handler needs: the API tokens, the database, and the effective rules ("is it stuck"). */
export interface ReadApiDeps {
  tokens: readonly ApiToken[];
  db: Db;
  rules: readonly Rule[];
}
