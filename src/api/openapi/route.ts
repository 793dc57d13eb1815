// GET /api/openapi.json on the API listener, without authentication: the document is public
// knowledge (it is in the repository) and clients generate their code from it.
import type { Handler } from "../types.js";
import { openApiDocument } from "./document.js";

export function openApiHandler(): Handler {
  const document = openApiDocument();
  return () => ({ status: 200, headers: { "cache-control": "public, max-age=300" }, body: document });
}
