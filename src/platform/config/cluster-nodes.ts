// REDIS_CLUSTER_NODES: the seed nodes of a Redis Cluster (src/platform/redis.ts connects to them).
import { z } from "zod";

export interface ClusterNode {
  readonly host: string;
  readonly port: number;
}

/** `host:port,host:port` (IPv6 as `[::1]:7000`) → nodes, or what is wrong with it. */
export function parseClusterNodes(raw: string): { value: ClusterNode[] } | { error: string } {
  const nodes: ClusterNode[] = [];
  for (const part of raw.split(",").map((p) => p.trim())) {
    const match = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):(\d{1,5})$/.exec(part);
    const port = match ? Number(match[2]) : NaN;
    if (!match || port < 1 || port > 65535) return { error: `must be a comma-separated list of host:port (e.g. redis-0:6379,redis-1:6379); ${JSON.stringify(part)} is not` };
    nodes.push({ host: match[1]!.replace(/^\[(.*)\]$/, "$1"), port });
  }
  return { value: nodes };
}

export const clusterNodes = z.string().transform((raw, ctx): ClusterNode[] => {
  const parsed = parseClusterNodes(raw);
  if ("error" in parsed) {
    ctx.issues.push({ code: "custom", message: parsed.error, input: raw });
    return z.NEVER;
  }
  return parsed.value;
});
