import { defineConfig } from "prisma/config";

// Prisma 7 reads no .env by itself. `?? ""` (not env()) keeps `prisma generate` working
// without a database URL, as in the Docker build stage.
export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: { url: process.env.DATABASE_URL ?? "" },
});
