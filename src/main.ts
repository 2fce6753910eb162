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

/**
 * process.stdout and process.stderr are made on first use (a stream to a file, a pipe or a terminal);
 * note which ones were, so that exiting drains those and does not make the others only to drain them.
 */
function noteStreamsInUse(): Set<"stdout" | "stderr"> {
  const used = new Set<"stdout" | "stderr">();
  for (const name of ["stdout", "stderr"] as const) {
    const d = Object.getOwnPropertyDescriptor(process, name);
    const get = d?.get;
    if (!get || !d.configurable) {
      used.add(name);
      continue;
    }
    Object.defineProperty(process, name, {
      configurable: true,
      enumerable: d.enumerable,
      get() {
        used.add(name);
        return get.call(process);
      },
    });
  }
  return used;
}

function drained(stream: NodeJS.WriteStream | null): Promise<void> {
  return stream === null ? Promise.resolve() : new Promise((resolve) => stream.write("", () => resolve()));
}

const inUse = noteStreamsInUse();
// Exit explicitly (a watcher or pool left open must never keep guard alive), but only once stdout and
// stderr have drained, so a piped `--json` consumer gets every byte.
void main(process.argv).then(async (code) => {
  await drained(inUse.has("stdout") ? process.stdout : null);
  await drained(inUse.has("stderr") ? process.stderr : null);
  process.exit(code);
});
