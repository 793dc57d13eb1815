import type { Authenticate } from "../../api/authenticate.js";
import type { Db } from "../../db/client.js";
import type { Rule } from "../../domain/rules.js";

/** What every read API handler needs: the one authentication, the database, and the effective rules ("is it stuck"). */
export interface ReadApiDeps {
  authenticate: Authenticate;
  db: Db;
  rules: readonly Rule[];
}
