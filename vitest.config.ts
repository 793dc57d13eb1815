import { defineConfig } from "vitest/config";

// `npm test` needs Node, Redis and PostgreSQL only. The system checks (test/packaging: the
// Dockerfile's steps and docker-compose; test/e2e: Bull Board in a real Chromium; test/deploy:
// promtool and `kubectl kustomize` against deploy/ and a real /metrics scrape) need more and
// run under `npm run test:system`, which .ci/run runs too: their failure fails CI all the same.
const SYSTEM = ["test/packaging/**", "test/e2e/**", "test/deploy/**"];

export default defineConfig({
  test: {
    // WATCHDOG_EXPERIMENTS=1: the one-off comparisons of bench/experiments/ (docs/design.md quotes their figures).
    include:
      process.env.WATCHDOG_EXPERIMENTS === "1"
        ? ["bench/experiments/*.test.ts"]
        : process.env.WATCHDOG_TEST_SYSTEM === "1"
          ? SYSTEM.map((g) => `${g.replace("/**", "")}/**/*.test.ts`)
          : ["test/**/*.test.ts"],
    exclude: process.env.WATCHDOG_TEST_SYSTEM === "1" ? [] : SYSTEM,
    globalSetup: ["test/support/global-setup.ts"],
    // Integration files share one database; they run one after another.
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // A leaked handle (worker, connection) keeps a file alive: fail instead of hanging.
    teardownTimeout: 10_000,
  },
});
