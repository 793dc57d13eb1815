// Preload (`--import`, after tsx) of the worker process in test/integration/worker-crash.test.ts: a
// bug that escapes every handler. On SIGUSR2 it throws from a timer (WATCHDOG_TEST_CRASH=exception) or
// leaves a rejected promise unhandled (WATCHDOG_TEST_CRASH=rejection), as a fault in a library
// callback would. Nothing else of the process is touched.
const kind = process.env.WATCHDOG_TEST_CRASH;
process.on("SIGUSR2", () => {
  if (kind === "rejection") {
    void Promise.reject(new Error("crash-test: a rejection nobody handled"));
    return;
  }
  setTimeout(() => {
    throw new Error("crash-test: an exception nobody caught");
  }, 0);
});
