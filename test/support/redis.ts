// Each test owns its BullMQ key prefix and deletes its keys afterwards.
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterEach, inject } from "vitest";

export function testRedisUrl(): string {
  return inject("redisUrl");
}

export function uniquePrefix(): string {
  return `wdtest-${randomBytes(4).toString("hex")}`;
}

export async function deletePrefix(prefix: string): Promise<void> {
  const redis = new Redis(testRedisUrl());
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    await redis.quit();
  }
}

/** The keys under these prefixes (what a test file would leave behind). */
export async function keysUnder(prefixes: readonly string[]): Promise<string[]> {
  const redis = new Redis(testRedisUrl());
  try {
    const found: string[] = [];
    for (const prefix of prefixes) {
      let cursor = "0";
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
        cursor = next;
        found.push(...keys);
      } while (cursor !== "0");
    }
    return found.sort();
  } finally {
    await redis.quit();
  }
}

/**
 * For a test file whose processes get prefixes of their own: `next()` hands out a new prefix, and
 * every prefix handed out is deleted after each test (`all`: what the file's last test checks is gone).
 */
export function prefixesDeletedAfterEach(): { next(): string; all: readonly string[] } {
  const all: string[] = [];
  afterEach(async () => {
    for (const prefix of all) await deletePrefix(prefix);
  });
  return {
    next: () => {
      const prefix = uniquePrefix();
      all.push(prefix);
      return prefix;
    },
    all,
  };
}
