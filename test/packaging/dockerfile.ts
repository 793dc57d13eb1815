// Runs a Dockerfile's stages outside a container, for machines without a Docker engine (CI here).
// It understands only the instructions our Dockerfile uses and throws on anything else, so an edit
// the runner cannot follow fails the test instead of being skipped. Each stage is a directory
// standing in for the stage's WORKDIR (/app); RUN lines run with `sh -c` in it, on the host's Node.
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";

export interface Instruction {
  readonly keyword: string;
  readonly args: string;
  readonly line: number;
}

export interface Stage {
  readonly name: string;
  readonly from: string;
  readonly instructions: Instruction[];
}

const WORKDIR = "/app";

/** Instructions by stage; `\` continuations joined, comments and the `# syntax=` directive dropped. */
export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    let logical = lines[i]!.trim();
    if (logical === "" || logical.startsWith("#")) continue;
    while (logical.endsWith("\\") && i + 1 < lines.length) {
      i += 1;
      const next = lines[i]!.trim();
      if (next.startsWith("#")) continue;
      logical = `${logical.slice(0, -1).trimEnd()} ${next}`;
    }
    const match = /^(\S+)\s*(.*)$/.exec(logical)!;
    const instruction = { keyword: match[1]!.toUpperCase(), args: match[2]!, line: start };
    if (instruction.keyword === "FROM") {
      const from = /^(\S+)\s+AS\s+(\S+)$/i.exec(instruction.args);
      if (!from) throw new Error(`Dockerfile line ${start}: write every stage as \`FROM <image> AS <name>\``);
      stages.push({ from: from[1]!, name: from[2]!, instructions: [] });
    } else {
      const stage = stages.at(-1);
      if (!stage) throw new Error(`Dockerfile line ${start}: ${instruction.keyword} before the first FROM`);
      stage.instructions.push(instruction);
    }
  }
  return stages;
}

/** The final stage as `docker run` would start it. */
export interface BuiltImage {
  /** Stands in for /app of the final stage. */
  readonly dir: string;
  readonly env: Record<string, string>;
  readonly user: string | undefined;
  readonly entrypoint: string[];
  readonly cmd: string[];
  readonly healthcheck: string[];
}

export interface RunOutput {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** stdout and stderr together, as they came. */
  readonly output: string;
  readonly stdout: string;
}

/** Runs argv to completion, collecting stdout and stderr together, and stdout alone. */
export function run(argv: string[], options: { cwd: string; env: Record<string, string | undefined> }): Promise<RunOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: options.cwd, env: options.env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => ((output += chunk.toString()), (stdout += chunk.toString())));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, output, stdout }));
  });
}

/** `node` in an image's command means the Node running this test (CI runs the suite on Node 20 and 24). */
export function hostArgv(argv: string[]): string[] {
  return argv[0] === "node" ? [process.execPath, ...argv.slice(1)] : argv;
}

/**
 * The environment RUN lines see: the host's (registry, proxy, HOME), minus what the test runner
 * set for itself, and no node_modules/.bin of this checkout on PATH (a stage must find its own tools).
 * npm may answer from its cache without re-validating: the lockfile pins every version and checksum,
 * so the same tree is installed, in half the time.
 */
function buildEnv(stageEnv: Record<string, string>): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key === "NODE_ENV" || key === "NODE_OPTIONS" || key === "INIT_CWD" || /^(VITEST|npm_package_|npm_lifecycle_)/.test(key)) continue;
    env[key] = value;
  }
  env.PATH = (process.env.PATH ?? "")
    .split(":")
    .filter((entry) => !entry.endsWith("node_modules/.bin"))
    .join(":");
  env.npm_config_prefer_offline = "true";
  return { ...env, ...stageEnv };
}

function jsonArray(args: string, where: string): string[] {
  try {
    const value: unknown = JSON.parse(args);
    if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value;
  } catch {
    // fall through to the error below
  }
  throw new Error(`${where}: expected the exec form, a JSON array of strings; got ${args}`);
}

function parseEnv(args: string, where: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of args.split(/\s+/)) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=([^"'$\s]*)$/.exec(pair);
    if (!m) throw new Error(`${where}: write ENV as unquoted KEY=value pairs; got ${pair}`);
    env[m[1]!] = m[2]!;
  }
  return env;
}

/** Maps a path inside a stage (absolute under /app, or relative to WORKDIR) to the stage's directory. */
function inStage(stageDir: string, path: string, where: string): string {
  if (path === WORKDIR || path.startsWith(`${WORKDIR}/`)) return join(stageDir, path.slice(WORKDIR.length));
  if (path.startsWith("/")) throw new Error(`${where}: only paths under ${WORKDIR} are supported, got ${path}`);
  return join(stageDir, path);
}

/** Docker's COPY: a directory's contents go into the destination; a file goes into a destination ending in `/`. */
function copy(source: string, destination: string, where: string): void {
  if (!existsSync(source)) throw new Error(`${where}: ${source} does not exist`);
  const target = destination.endsWith("/") ? join(destination, basename(source)) : destination;
  mkdirSync(dirname(target), { recursive: true });
  cpSync(source, target, { recursive: true });
}

/** Runs every stage in order under workRoot; COPY without --from reads contextDir. */
export async function buildOutsideContainer(dockerfilePath: string, contextDir: string, workRoot: string): Promise<BuiltImage> {
  const stages = parseDockerfile(readFileSync(dockerfilePath, "utf8"));
  const built = new Map<string, { dir: string; env: Record<string, string> }>();
  let image: BuiltImage | undefined;
  for (const stage of stages) {
    const dir = join(workRoot, stage.name);
    const parent = built.get(stage.from);
    if (parent) cpSync(parent.dir, dir, { recursive: true });
    else mkdirSync(dir, { recursive: true });
    let env = { ...(parent?.env ?? {}) };
    let user: string | undefined;
    let entrypoint: string[] = [];
    let cmd: string[] = [];
    let healthcheck: string[] = [];
    for (const { keyword, args, line } of stage.instructions) {
      const where = `Dockerfile line ${line} (${keyword})`;
      switch (keyword) {
        case "WORKDIR":
          if (args !== WORKDIR) throw new Error(`${where}: the runner supports WORKDIR ${WORKDIR} only`);
          break;
        case "COPY": {
          const words = args.split(/\s+/);
          let from: string | undefined;
          while (words[0]?.startsWith("--")) {
            const flag = words.shift()!;
            const m = /^--from=(.+)$/.exec(flag);
            if (!m) throw new Error(`${where}: unsupported flag ${flag}`);
            from = m[1]!;
          }
          const destination = words.pop();
          if (!destination || words.length === 0) throw new Error(`${where}: COPY needs a source and a destination`);
          if (words.length > 1 && !destination.endsWith("/")) throw new Error(`${where}: several sources need a destination ending in /`);
          const sourceStage = from === undefined ? undefined : built.get(from);
          if (from !== undefined && !sourceStage) throw new Error(`${where}: no earlier stage named ${from}`);
          for (const source of words) {
            const sourcePath = sourceStage ? inStage(sourceStage.dir, source, where) : join(contextDir, source);
            copy(sourcePath, inStage(dir, destination, where) + (destination.endsWith("/") ? "/" : ""), where);
          }
          break;
        }
        case "RUN": {
          if (args.startsWith("[")) throw new Error(`${where}: the runner supports the shell form of RUN only`);
          const result = await run(["sh", "-c", args], { cwd: dir, env: buildEnv(env) });
          if (result.code !== 0) throw new Error(`${where} \`${args}\` exited ${result.code}:\n${result.output.slice(-4000)}`);
          break;
        }
        case "ENV":
          env = { ...env, ...parseEnv(args, where) };
          break;
        case "USER":
          user = args;
          break;
        case "EXPOSE":
          break;
        case "ENTRYPOINT":
          entrypoint = jsonArray(args, where);
          break;
        case "CMD":
          cmd = jsonArray(args, where);
          break;
        case "HEALTHCHECK": {
          const m = /^(?:--\S+\s+)*CMD\s+(\[.*\])$/.exec(args);
          if (!m) throw new Error(`${where}: expected HEALTHCHECK [--options] CMD ["…"]`);
          healthcheck = jsonArray(m[1]!, where);
          break;
        }
        default:
          throw new Error(`${where}: not understood by the outside-a-container runner (test/packaging/dockerfile.ts); extend it`);
      }
    }
    built.set(stage.name, { dir, env });
    image = { dir, env, user, entrypoint, cmd, healthcheck };
  }
  if (!image) throw new Error(`${dockerfilePath} has no stage`);
  return image;
}
