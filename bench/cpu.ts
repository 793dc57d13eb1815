// CPU time spent on a piece of work: this process (the client: Prisma or pg, BullMQ) plus the
// PostgreSQL backends serving the bench database, read from /proc/<pid>/stat. On a shared machine
// wall-clock rates swing 10–50 % with the neighbours' load; the CPU a path burns per task barely
// does, so these figures say whether a gap in tasks/s is the code or the neighbours. Needs
// PostgreSQL on this host (serverCpuVisible); otherwise main.ts leaves the CPU figures out.
import { readFileSync } from "node:fs";
import type pg from "pg";

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** utime + stime of a process of this host in ms (0 once it is gone). */
export function processCpuMs(pid: number): number {
  return backendCpuMs(pid) ?? 0;
}

/** utime + stime of a backend in ms, or undefined when it is not a process of this host. */
function backendCpuMs(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** True when the database's backends are processes of this host, so their CPU can be read. */
export async function serverCpuVisible(pool: pg.Pool): Promise<boolean> {
  const { rows } = await pool.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
  return backendCpuMs(rows[0]!.pid) !== undefined;
}

async function clientBackends(pool: pg.Pool): Promise<number[]> {
  const { rows } = await pool.query<{ pid: number }>(
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'",
  );
  return rows.map((r) => r.pid);
}

export interface CpuUse {
  clientMs: number;
  serverMs: number;
}

/** Starts counting; `stop()` returns the CPU used since by this process and by the database's backends. */
export async function startCpuMeter(pool: pg.Pool): Promise<{ stop: () => Promise<CpuUse> }> {
  const before = new Map((await clientBackends(pool)).map((pid) => [pid, backendCpuMs(pid) ?? 0]));
  const client = process.cpuUsage();
  return {
    stop: async () => {
      const used = process.cpuUsage(client);
      // Backends opened meanwhile (a pool growing) count from zero: they were born inside the window.
      const pids = new Set([...before.keys(), ...(await clientBackends(pool))]);
      let serverMs = 0;
      for (const pid of pids) serverMs += Math.max(0, (backendCpuMs(pid) ?? 0) - (before.get(pid) ?? 0));
      return { clientMs: (used.user + used.system) / 1000, serverMs };
    },
  };
}
