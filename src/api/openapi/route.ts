// GET /api/openapi.json on the API listener, without authentication: the document is public
// knowledge (it is in the repository) and clients generate their code from it. Its `servers`
// name this worker's listeners (API_HOST:API_PORT, OPS_HOST:OPS_PORT), as bound.
import type { Handler } from "../types.js";
import { openApiDocument, type Listeners } from "./document.js";

/** `listeners`: where this worker listens, known once both listeners are up (before, the defaults). */
export function openApiHandler(listeners: () => Listeners | undefined = () => undefined): Handler {
  let builtFor: Listeners | undefined;
  let document = openApiDocument();
  return () => {
    const where = listeners();
    if (where !== builtFor) [builtFor, document] = [where, openApiDocument(where)];
    return { status: 200, headers: { "cache-control": "public, max-age=300" }, body: document };
  };
}
