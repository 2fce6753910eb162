/**
 * Entry point: run the command table; the single catch turns every error into its exit code.
 * Commands print what they found and throw a GuardError; nothing else in the program calls process.exit.
 */
import { buildProgram, COMMAND_NAMES } from "./cli.js";
import { ExitCode, GuardError } from "./core/errors.js";
import { reportError } from "./adapters/output.js";

async function main(argv: string[]): Promise<number> {
  try {
    const first = argv[2];
    const program = buildProgram(first !== undefined && COMMAND_NAMES.has(first) ? first : undefined);
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    if (isCommanderExit(err)) return err.exitCode === 0 ? 0 : ExitCode.USAGE;
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

function isCommanderExit(err: unknown): err is { exitCode: number; code: string } {
  return typeof err === "object" && err !== null && "code" in err && typeof (err as { code: unknown }).code === "string" && (err as { code: string }).code.startsWith("commander.");
}

const code = await main(process.argv);
// Exit explicitly (a watcher or pool left open must never keep guard alive), but only once stdout and
// stderr have drained, so a piped `--json` consumer gets every byte.
process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
