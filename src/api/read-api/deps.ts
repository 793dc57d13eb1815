import type { Authenticate } from "../authenticate.js";
import type { Db } from "../../platform/db/client.js";
import type { Rule } from "../../rules/rules.js";

/** What every read API handler needs: the one authentication, the database, and the effective rules ("is it stuck"). */
export interface ReadApiDeps {
  authenticate: Authenticate;
  db: Db;
  rules: readonly Rule[];
}
