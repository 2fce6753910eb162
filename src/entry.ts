/**
 * guard's command line, run with a runtime: the command table, and the single catch that turns every error
 * into its exit code. main.ts runs it for the real process; a test runs it in process with a runtime of its
 * own (test/helpers/in-process.ts). Commands print what they found and throw a GuardError; nothing here or
 * below calls process.exit.
 *
 * `guard run [options] -- CMD…`, `guard run --request ID [options]` and `guard check [options] -- CMD…` in
 * their plain shape go straight to their command (run-args.ts, held to commander's own reading by
 * test/cli-run-args.test.ts); everything else, and every error, goes through commander, which is then
 * loaded (cli.ts).
 */
import { ExitCode, GuardError } from "./core/errors.js";
import { reportError, setColour, stderrStream, useTerminal } from "./adapters/output.js";
import type { Runtime } from "./runtime.js";
import { runCommand, statusLine } from "./commands/run.js";
import { checkCommand } from "./commands/check.js";
import { parseCheckArgs, parseRunArgs } from "./run-args.js";

/**
 * `--color` and `--no-color` are guard's own anywhere before `--` (the last one wins); they are taken out
 * before the command line is read, so every command accepts them. After `--` everything is the command's.
 */
function takeColourFlags(argv: string[]): string[] {
  const end = argv.includes("--") ? argv.indexOf("--") : argv.length;
  const kept: string[] = [];
  argv.forEach((arg, i) => {
    if (i < end && i >= 2 && (arg === "--color" || arg === "--no-color")) setColour(arg === "--color");
    else kept.push(arg);
  });
  return kept;
}

/** Run guard's command line `original` (node, script, then guard's arguments); answers the exit code. */
export async function runGuard(rt: Runtime, original: string[]): Promise<number> {
  useTerminal(rt.terminal);
  const argv = takeColourFlags(original);
  try {
    const first = argv[2];
    const plainRun = first === "run" ? parseRunArgs(argv.slice(3)) : null;
    if (plainRun) {
      await runCommand(plainRun.command, plainRun.opts, rt);
      return rt.exitCode ?? 0;
    }
    const plainCheck = first === "check" ? parseCheckArgs(argv.slice(3)) : null;
    if (plainCheck) {
      await checkCommand(plainCheck.command, plainCheck.opts, rt);
      return rt.exitCode ?? 0;
    }
    const { buildProgram, COMMAND_NAMES } = await import("./cli.js");
    // Hidden: the shell completion scripts ask guard what may follow (commands/completion.ts).
    if (first === "__complete") {
      await (await import("./commands/completion.js")).completeCommand(argv.slice(3), buildProgram(rt), rt);
      return 0;
    }
    const program = buildProgram(rt, first !== undefined && COMMAND_NAMES.has(first) ? first : undefined);
    await program.parseAsync(argv);
    return rt.exitCode ?? 0;
  } catch (err) {
    if (isCommanderExit(err)) {
      if (err.exitCode === 0) return 0;
      // `guard run --json` ends with its status line whatever went wrong, a mistyped option included.
      if (argv[2] === "run") {
        const options = argv.slice(3, argv.includes("--") ? argv.indexOf("--") : undefined);
        const json = options.includes("--json");
        if (json) stderrStream().write(`${JSON.stringify({ error: { code: "usage", exitCode: ExitCode.USAGE, message: err.message, hint: "run guard run --help for usage", details: [] } })}\n`);
        statusLine("usage", ExitCode.USAGE, { json });
      }
      return ExitCode.USAGE;
    }
    if (err instanceof GuardError) {
      if (!err.reported) reportError(err);
      return err.exitCode;
    }
    reportError(
      new GuardError(
        ExitCode.INTERNAL,
        `internal error: ${err instanceof Error ? err.message : String(err)}`,
        "This is a bug in guard: nothing was run. Please report it with the command you ran and the stack below.",
        err instanceof Error && err.stack ? err.stack.split("\n").slice(1, 8) : [],
        "internal",
      ),
    );
    return ExitCode.INTERNAL;
  }
}

function isCommanderExit(err: unknown): err is { exitCode: number; code: string; message: string } {
  return typeof err === "object" && err !== null && "code" in err && typeof (err as { code: unknown }).code === "string" && (err as { code: string }).code.startsWith("commander.");
}

