// GET /api/openapi.json on the API listener, without authentication: the document is public
// knowledge (it is in the repository) and clients generate their code from it. Its `servers`
// name this worker's API listener (API_HOST:API_PORT) as bound, and the ops listener at its
// documented defaults: its real address is internal and this answer needs no token.
import type { Handler } from "../types.js";
import { openApiDocument, type Listeners } from "./document.js";

/** `listeners`: where this worker listens, known once both listeners are up (before, the defaults). */
export function openApiHandler(listeners: () => Listeners | undefined = () => undefined): Handler {
  // Built on the first request, not at start: most workers are never asked for it, and building
  // it (zod schemas to JSON Schema) is start-up garbage that raised the process's peak memory.
  let built: { for: Listeners | undefined; document: ReturnType<typeof openApiDocument> } | undefined;
  return () => {
    const where = listeners();
    if (!built || built.for !== where) built = { for: where, document: openApiDocument(where) };
    const document = built.document;
    return { status: 200, headers: { "cache-control": "public, max-age=300" }, body: document };
  };
}
