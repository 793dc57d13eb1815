// Option conventions every `watchdog` command shares (docs/cli.md, "Options"): an option that takes
// one value is given once — a second occurrence is refused, never silently decided by the last one
// (`reprocess --task-id 1 --task-id 2` would act on task 2 only) — and a list option is declared
// with `repeatable`, each occurrence adding one value.
import type { Command, Option } from "commander";
import { EXIT } from "./exit-codes.js";

/** The parser of a list option (`--event evt_1 --event evt_2`): each occurrence adds one value. */
export const repeatable = (value: string, previous: string[] = []): string[] => [...previous, value];

/**
 * Refuses, with exit code 2, every option that takes a value and is not `repeatable` when it is
 * given more than once, on `root` and each command under it (defined before this is called).
 * Flags without a value (`--dry-run`) may repeat: a second says nothing different.
 */
export function refuseRepeatedOptions(root: Command): void {
  const given = new Map<Command, Map<Option, number>>();
  const count = (command: Command) => {
    for (const option of command.options) {
      if (option.isBoolean() || option.parseArg === repeatable) continue;
      // commander emits this for `--x v`, `--x=v` and `-x v` alike, before it stores the value.
      command.on(`option:${option.name()}`, () => {
        const counts = given.get(command) ?? new Map<Option, number>();
        given.set(command, counts.set(option, (counts.get(option) ?? 0) + 1));
      });
    }
    command.commands.forEach(count);
  };
  count(root);
  root.hook("preAction", (_root, action) => {
    for (let command: Command | null = action; command; command = command.parent) {
      for (const [option, times] of given.get(command) ?? []) {
        const name = option.long ?? option.short ?? option.flags;
        if (times > 1) action.error(`${name} is given ${times} times; give it once`, { exitCode: EXIT.usage, code: "watchdog.repeatedOption" });
      }
    }
  });
}

/**
 * Refuses `--timeout` given without `--wait` on the commands that have both (exit code 2): it bounds
 * only the wait, so alone it would be dropped and the command return at once, not what was asked.
 */
export function refuseTimeoutWithoutWait(root: Command): void {
  root.hook("preAction", (_root, action) => {
    if (!action.options.some((o) => o.long === "--wait") || action.getOptionValueSource("timeout") !== "cli" || action.opts().wait === true) return;
    action.error("--timeout bounds the wait of --wait; give --wait too, or leave --timeout out", { exitCode: EXIT.usage, code: "watchdog.timeoutWithoutWait" });
  });
}
