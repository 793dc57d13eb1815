// The worker's node flags are said in two places, `npm start` and the image's entry point, and the
// benchmark's RSS children take them from `npm start`: the two must not drift apart.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { workerNodeFlags } from "../../bench/figures/rss.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

describe("the worker's node flags", () => {
  it("are the same under npm start, in the image's entry point and in the benchmark's RSS children", () => {
    const start = (JSON.parse(readFileSync(`${ROOT}/package.json`, "utf8")) as { scripts: { start: string } }).scripts.start;
    const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(readFileSync(`${ROOT}/Dockerfile`, "utf8"))![1]!) as string[];
    const startFlags = start.split(/\s+/).slice(start.split(/\s+/).indexOf("node") + 1).filter((w) => w.startsWith("--max-"));
    const imageFlags = entrypoint.slice(1).filter((w) => w.startsWith("--max-"));
    expect(startFlags).toEqual(["--max-semi-space-size=8"]);
    expect(imageFlags).toEqual(startFlags);
    expect(workerNodeFlags()).toEqual(startFlags);
  });
});
