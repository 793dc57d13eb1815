import { fileURLToPath } from "node:url";

/** prisma/migrations, found from src/cli or dist/cli alike. */
export const MIGRATIONS_DIR = fileURLToPath(new URL("../../prisma/migrations", import.meta.url));
