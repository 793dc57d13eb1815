// `npm run schema`: writes docs/rules.schema.json from the zod schema of the rules file
// (src/rules/rules-schema.ts). test/unit/rules-schema.test.ts fails while the file is stale.
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { rulesJsonSchema } from "../src/rules/rules-schema.js";

export const RULES_SCHEMA_PATH = fileURLToPath(new URL("../docs/rules.schema.json", import.meta.url));

writeFileSync(RULES_SCHEMA_PATH, `${JSON.stringify(rulesJsonSchema(), null, 2)}\n`);
console.log(`wrote ${RULES_SCHEMA_PATH}`);
