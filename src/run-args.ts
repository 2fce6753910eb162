/**
 * `guard run [options] -- CMD [ARGS…]`, `guard run --request ID [options]` and `guard check [options] --
 * CMD [ARGS…]` read without commander, for entry.ts: loading commander and building its command table
 * costs more than anything else guard adds in front of a command (docs/benchmarks.md).
 *
 * Commander (cli.ts) stays the definition of the command line. This reads only the plain shape — known
 * options, each at most once, with a value that does not start with `-`, then `--` and the command (or,
 * with --request, options alone) — and answers null for anything else (help, a typo, a repeated option,
 * no `--` without --request, `check` with no command…),
 * which entry.ts then hands to commander, errors and all. test/cli-run-args.test.ts holds it to
 * commander's own result on every input it accepts, over tables and generated command lines.
 */
import type { CommonOptions, RunOptions } from "./commands/options.js";
import type { CheckOptions } from "./commands/check.js";

type Key = keyof RunOptions | keyof CheckOptions;

interface Shape {
  /** Options that take a value, by their long name. */
  values: ReadonlyMap<string, Key>;
  /** Options that are flags. */
  flags: ReadonlyMap<string, Key>;
  /** commander's `<command...>`: at least one word after `--`. */
  needsCommand: boolean;
  /** An option whose presence makes a command line of options alone (no `--`, no command) plain too. */
  acceptsWithoutSeparator?: Key;
}

/** common() in cli.ts: every command's --policy, --store, --key (and --json, a flag). */
const COMMON_VALUES: ReadonlyArray<[string, keyof CommonOptions]> = [
  ["--policy", "policy"],
  ["--store", "store"],
  ["--key", "key"],
];

const RUN: Shape = {
  values: new Map<string, Key>([["--env", "env"], ["--reason", "reason"], ["--confirm", "confirm"], ["--wait", "wait"], ["--request", "request"], ...COMMON_VALUES]),
  flags: new Map<string, Key>([["--break-glass", "breakGlass"], ["--json", "json"]]),
  needsCommand: false,
  acceptsWithoutSeparator: "request",
};

const CHECK: Shape = {
  values: new Map<string, Key>([["--env", "env"], ...COMMON_VALUES]),
  flags: new Map<string, Key>([["--json", "json"]]),
  needsCommand: true,
};

/** Every option each fast reader knows (test/cli-run-args.test.ts: exactly those cli.ts gives the command). */
export const RUN_OPTION_NAMES: readonly string[] = [...RUN.values.keys(), ...RUN.flags.keys()];
export const CHECK_OPTION_NAMES: readonly string[] = [...CHECK.values.keys(), ...CHECK.flags.keys()];

export interface RunArgs {
  command: string[];
  opts: RunOptions;
}

export interface CheckArgs {
  command: string[];
  opts: CheckOptions;
}

/** `args` is what follows `run`; null means "not the plain shape: ask commander". */
export function parseRunArgs(args: readonly string[]): RunArgs | null {
  return parsePlain(RUN, args) as RunArgs | null;
}

/** `args` is what follows `check`; null means "not the plain shape: ask commander". */
export function parseCheckArgs(args: readonly string[]): CheckArgs | null {
  return parsePlain(CHECK, args) as CheckArgs | null;
}

function parsePlain(shape: Shape, args: readonly string[]): { command: string[]; opts: Partial<Record<Key, string | boolean>> } | null {
  const opts: Partial<Record<Key, string | boolean>> = {};
  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") break;
    const eq = arg.indexOf("=");
    const name = arg.startsWith("--") && eq > 2 ? arg.slice(0, eq) : arg;
    const inline = name === arg ? undefined : arg.slice(eq + 1);
    const valueKey = shape.values.get(name);
    const flagKey = shape.flags.get(name);
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
  // No `--`: only `guard run --request ID [options]`, which names no command (the request holds it) —
  // the documented form, and what every racer for one approval runs. Anything else without `--` keeps
  // commander's pass-through rules.
  if (i >= args.length) return shape.acceptsWithoutSeparator !== undefined && opts[shape.acceptsWithoutSeparator] !== undefined ? { command: [], opts } : null;
  const command = args.slice(i + 1);
  if (shape.needsCommand && command.length === 0) return null;
  return { command, opts };
}
