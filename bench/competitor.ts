// `--loaded`: a CPU competitor for the whole run. One busy child process per core but one, so
// the run shares the machine the way a production node is shared; the figures are ratios within
// the run, so a target that holds here holds on a loaded machine. Ended (by PID) when the run ends.
import { spawn, type ChildProcess } from "node:child_process";
import { cpus } from "node:os";
import { log } from "./measure.js";

export interface Competitor {
  readonly processes: number;
  stop(): void;
}

export function startCompetitor(): Competitor {
  const count = Math.max(1, cpus().length - 1);
  // Each busy loop ends itself once the bench is no longer its parent (its parent pid, read from
  // /proc every ~0.2 s; Node's process.ppid is read once at start): a bench that dies without
  // reaching stop() (a crash, process.exit) leaves no competitor behind.
  const loop = `const parent = () => require("node:fs").readFileSync("/proc/self/stat", "utf8").split(") ")[1].split(" ")[1];
    for (let i = 1; ; i++) if (i % 1e8 === 0 && parent() !== process.argv[1]) process.exit(0);`;
  const children: ChildProcess[] = Array.from({ length: count }, () => spawn(process.execPath, ["-e", loop, String(process.pid)], { stdio: "ignore" }));
  log(`--loaded: ${count} busy competitor process(es) running (pids ${children.map((c) => c.pid).join(", ")})`);
  return {
    processes: count,
    stop: () => {
      for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    },
  };
}
