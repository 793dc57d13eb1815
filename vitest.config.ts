import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/support/global-setup.ts"],
    // Integration files share one database; they run one after another.
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // A leaked handle (worker, connection) keeps a file alive: fail instead of hanging.
    teardownTimeout: 10_000,
  },
});
