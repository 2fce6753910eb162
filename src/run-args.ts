/**
 * `guard run [options] -- CMD [ARGS…]` read without commander, for main.ts: building commander's command
 * table costs about 2 ms, a fifth of what guard may add in front of every command (docs/benchmarks.md).
 *
 * Commander (cli.ts) stays the definition of the command line. This reads only the plain shape — known
 * options, each at most once, with a value that does not start with `-`, then `--` and the command — and
 * answers null for anything else (help, a typo, a repeated option, no `--`…), which main.ts then hands to
 * commander, errors and all. test/cli-run-args.test.ts holds it to commander's own result on every input
 * it accepts, over tables and generated command lines.
 */
import type { RunOptions } from "./commands/options.js";

type Key = keyof RunOptions;

/** The options of `guard run` that take a value (cli.ts: run's own and common()). */
const VALUE_OPTIONS: ReadonlyMap<string, Key> = new Map<string, Key>([
  ["--env", "env"],
  ["--reason", "reason"],
  ["--confirm", "confirm"],
  ["--wait", "wait"],
  ["--request", "request"],
  ["--policy", "policy"],
  ["--store", "store"],
  ["--key", "key"],
]);

/** The options of `guard run` that are flags. */
const FLAG_OPTIONS: ReadonlyMap<string, Key> = new Map<string, Key>([
  ["--break-glass", "breakGlass"],
  ["--json", "json"],
]);

/** Every option parseRunArgs reads (test/cli-run-args.test.ts: exactly those cli.ts gives `run`). */
export const RUN_OPTION_NAMES: readonly string[] = [...VALUE_OPTIONS.keys(), ...FLAG_OPTIONS.keys()];

export interface RunArgs {
  command: string[];
  opts: RunOptions;
}

/** `args` is what follows `run`; null means "not the plain shape: ask commander". */
export function parseRunArgs(args: readonly string[]): RunArgs | null {
  const opts: Partial<Record<Key, string | boolean>> = {};
  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") break;
    const eq = arg.indexOf("=");
    const name = arg.startsWith("--") && eq > 2 ? arg.slice(0, eq) : arg;
    const inline = name === arg ? undefined : arg.slice(eq + 1);
    const valueKey = VALUE_OPTIONS.get(name);
    const flagKey = FLAG_OPTIONS.get(name);
    if (valueKey !== undefined) {
      const value = inline ?? args[++i];
      if (value === undefined || value.startsWith("-") || opts[valueKey] !== undefined) return null;
      opts[valueKey] = value;
    } else if (flagKey !== undefined && inline === undefined) {
      if (opts[flagKey] !== undefined) return null;
      opts[flagKey] = true;
    } else {
      return null;
    }
  }
  if (i >= args.length) return null;
  return { command: args.slice(i + 1), opts: opts as RunOptions };
}
