// The SQL template tag every statement is written with (Prisma.sql, Prisma.join, Prisma.raw,
// Prisma.empty and the Sql type): sql-template-tag as Prisma ships it. Imported from Prisma's small
// runtime utilities rather than the generated client: the generated client pulls in Prisma's whole
// query runtime (~15 MB of resident memory) that the worker never runs (src/platform/db/client.ts).
// Use: `import * as Prisma from "…/platform/db/sql.js"`, then Prisma.sql`…` as before.
export { empty, join, raw, sql, Sql } from "@prisma/client-runtime-utils";
