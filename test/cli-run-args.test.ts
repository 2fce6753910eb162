import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Command } from "commander";
import { processRuntime } from "../src/runtime.js";
import { buildProgram } from "../src/cli.js";
import { CHECK_OPTION_NAMES, parseCheckArgs, parseRunArgs, RUN_OPTION_NAMES } from "../src/run-args.js";

/** The command table is only built and parsed here; no action runs. */
const rt = processRuntime();

/**
 * entry.ts reads `guard run … -- CMD` with parseRunArgs and `guard check … -- CMD` with parseCheckArgs, and
 * gives everything else to commander. That is only sound if each, whenever it answers, answers exactly
 * what commander would: the same command and the same options, and never accepts a command line that
 * commander refuses.
 */

type Outcome = { command: string[]; opts: Record<string, unknown> } | "refused";

/** What commander makes of `guard NAME ARGS…`, with the command's action replaced by a recorder. */
function commander(args: readonly string[], name: "run" | "check" = "run"): Outcome {
  const program = buildProgram(rt, name);
  const run = program.commands.find((c) => c.name() === name) as Command;
  let seen: Outcome = "refused";
  run.action((command: string[], opts: Record<string, unknown>) => {
    seen = { command, opts: { ...opts } };
  });
  for (const c of [program, run]) c.configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  try {
    program.parse(["node", "guard", name, ...args]);
  } catch {
    return "refused";
  }
  return seen;
}

function agrees(args: readonly string[], name: "run" | "check" = "run"): void {
  const fast = name === "run" ? parseRunArgs(args) : parseCheckArgs(args);
  if (fast === null) return;
  const ref = commander(args, name);
  expect(ref, `commander refuses ${JSON.stringify(args)} but parseRunArgs accepts it`).not.toBe("refused");
  expect({ command: fast.command, opts: { ...fast.opts } }, JSON.stringify(args)).toEqual(ref);
}

describe("parseRunArgs, the fast path of `guard run`", () => {
  it("knows exactly the options cli.ts gives `run` (besides --help), so that neither list drifts from the other", () => {
    const run = buildProgram(rt, "run").commands.find((c) => c.name() === "run") as Command;
    const declared = run.options.map((o) => o.long).filter((l): l is string => l !== undefined && l !== "--help");
    expect([...RUN_OPTION_NAMES].sort()).toEqual(declared.sort());
  });

  it.each([
    [["--", "./maintenance/report-lb-state.sh"]],
    [["--", "./purge.sh", "--region", "us-east-1", "--", "-x"]],
    [["--env", "production", "--reason", "INC-4211 purge stale state", "--", "./purge.sh"]],
    [["--env=production", "--reason=a=b", "--json", "--", "./purge.sh"]],
    [["--wait", "15m", "--confirm", "production", "--", "./purge.sh"]],
    [["--request", "r-abcdefghijklmnopqrst", "--"]],
    // `guard run --request ID`: options alone, no `--` (the request holds the command).
    [["--request", "r-abcdefghijklmnopqrst"]],
    [["--request", "r-abcdefghijklmnopqrst", "--confirm", "production", "--json"]],
    [["--confirm=production", "--request=r-abcdefghijklmnopqrst"]],
    [["--break-glass", "--reason", "db on fire", "--policy", "./policies", "--store", "file:/srv/s", "--key", "~/.ssh/k", "--", "x"]],
    [["--reason", "", "--", "x"]],
    [["--env=", "--", "x"]],
    [["--"]],
  ])("agrees with commander on %j", (args) => {
    expect(parseRunArgs(args)).not.toBeNull();
    agrees(args);
  });

  it.each([
    [["./purge.sh"]], // no `--`: commander's pass-through rules apply
    [["--confirm", "production"]], // options alone without --request
    [[]],
    [["--request", "r-abcdefghijklmnopqrst", "./purge.sh"]], // a command without `--`
    [["--request", "r-abcdefghijklmnopqrst", "--request", "r-abcdefghijklmnopqrsu"]],
    [["--help", "--", "x"]],
    [["-h"]],
    [["--env", "--", "x"]], // a value that looks like an option
    [["--reason", "-x", "--", "y"]],
    [["--env", "a", "--env", "b", "--", "x"]], // repeated
    [["--json", "--json", "--", "x"]],
    [["--json=yes", "--", "x"]],
    [["--envv", "prod", "--", "x"]], // a typo
    [["--ENV", "prod", "--", "x"]],
    [["-e", "prod", "--", "x"]],
    [["--constructor", "x", "--", "y"]],
    [["--env"]],
  ])("leaves %j to commander", (args) => {
    expect(parseRunArgs(args)).toBeNull();
  });

  it("agrees with commander on every generated command line it accepts", () => {
    generated("run", parseRunArgs);
  });
});

/**
 * Generated command lines for `guard NAME`: mostly well-formed option lists (an option with a value), with
 * noise mixed in (the other command's options among it), then usually `--`.
 */
function generated(name: "run" | "check", parse: (args: readonly string[]) => unknown): void {
  const valueOption = name === "run"
    ? fc.constantFrom("--env", "--reason", "--confirm", "--wait", "--request", "--policy", "--store", "--key")
    : fc.constantFrom("--env", "--policy", "--store", "--key", "--env", "--policy", "--store", "--key", "--reason", "--wait");
  const other = fc.constantFrom("--break-glass", "--json", "--help", "-h", "-V", "--nope", "--env=prod", "--reason=", "--json=1", "--", "-");
  const word = fc.oneof(fc.constantFrom("", "-", "-x", "--x", "--", "=", "a=b", "production", "r-abcdefghijklmnopqrst", "15m", "é ☃", " "), fc.string({ maxLength: 6 }));
  const item = fc.oneof({ weight: 4, arbitrary: fc.tuple(valueOption, word).map(([o, v]) => [o, v]) }, { weight: 2, arbitrary: other.map((o) => [o]) }, { weight: 1, arbitrary: word.map((w) => [w]) });
  const argv = fc
    .tuple(fc.array(item, { maxLength: 5 }), fc.boolean(), fc.array(word, { maxLength: 4 }))
    .map(([items, sep, cmd]) => [...items.flat(), ...(sep ? ["--"] : []), ...cmd]);
  let accepted = 0;
  let runs = 0;
  fc.assert(
    fc.property(argv, (args) => {
      runs++;
      if (parse(args) !== null) accepted++;
      agrees(args, name);
    }),
    { numRuns: 3000 },
  );
  // The comparison must actually happen, often.
  expect(accepted).toBeGreaterThan(runs / 10);
}

describe("parseCheckArgs, the fast path of `guard check`", () => {
  it("knows exactly the options cli.ts gives `check` (besides --help)", () => {
    const check = buildProgram(rt, "check").commands.find((c) => c.name() === "check") as Command;
    const declared = check.options.map((o) => o.long).filter((l): l is string => l !== undefined && l !== "--help");
    expect([...CHECK_OPTION_NAMES].sort()).toEqual(declared.sort());
  });

  it.each([
    [["--", "./maintenance/report-lb-state.sh"]],
    [["--json", "--", "/bin/true"]],
    [["--env", "production", "--policy", "./policies", "--store", "file:/srv/s", "--key", "~/.ssh/k", "--", "./purge.sh", "--", "-x"]],
    [["--env=production", "--json", "--", "psql", "-c", "select 1"]],
  ])("agrees with commander on %j", (args) => {
    expect(parseCheckArgs(args)).not.toBeNull();
    agrees(args, "check");
  });

  it.each([
    [["--"]], // commander's <command...> needs a command
    [["--json", "--"]],
    [["./purge.sh"]],
    [["--reason", "x", "--", "y"]], // run's option, not check's
    [["--wait", "1m", "--", "y"]],
    [["--break-glass", "--", "y"]],
    [["--help", "--", "x"]],
    [["--env", "--", "x"]],
    [["--json", "--json", "--", "x"]],
  ])("leaves %j to commander", (args) => {
    expect(parseCheckArgs(args)).toBeNull();
  });

  it("agrees with commander on every generated command line it accepts", () => {
    generated("check", parseCheckArgs);
  });
});
