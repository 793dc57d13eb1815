// `npm run -s openapi > docs/openapi.json`: prints the document as it is checked in.
import { openApiDocument } from "./document.js";

process.stdout.write(`${JSON.stringify(openApiDocument(), null, 2)}\n`);
