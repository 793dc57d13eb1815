/**
 * `work`, or a rejection after `ms`. Our Redis connections wait for a reconnect instead of failing
 * (BullMQ needs that), so anything answering a scrape or a health check must bound its wait.
 */
export async function withTimeout<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
