// The Redis Cluster test starts redis-server processes of its own: without redis-server on PATH it
// must say so at once, not time out its hook after a minute with `spawn redis-server ENOENT`.
import { afterEach, expect, it } from "vitest";
import { startRedisCluster } from "../support/redis-cluster.js";

const path = process.env.PATH;
afterEach(() => {
  process.env.PATH = path;
});

it("without redis-server on PATH, starting a cluster fails at once naming the binary and the fix", async () => {
  process.env.PATH = "/nonexistent";
  const started = Date.now();
  await expect(startRedisCluster()).rejects.toThrow(/^redis-server is not on PATH: .*install Redis/);
  expect(Date.now() - started).toBeLessThan(2000);
});

it("without redis-server on PATH, a test's own Redis (the outage tests of npm test) fails at once naming the binary and the fix", async () => {
  const { startOwnRedis } = await import("../support/redis-server.js");
  process.env.PATH = "/nonexistent";
  const started = Date.now();
  await expect(startOwnRedis()).rejects.toThrow(/^redis-server is not on PATH: .*install Redis/);
  expect(Date.now() - started).toBeLessThan(2000);
});
