/**
 * Questions at a terminal. @inquirer/prompts is imported only when a question is actually asked, and
 * only when stdin and stderr are both terminals: without one guard never prompts and never hangs.
 * Commands ask through their runtime (runtime.ts: ctx.rt.ask, ctx.rt.interactive), which comes here
 * for the real process.
 */
import { GuardError, ExitCode } from "../core/errors.js";
import { currentTerminal, stderrStream } from "./output.js";

export function interactive(): boolean {
  return Boolean(currentTerminal().stdinIsTTY() && stderrStream().isTTY);
}

export async function ask(message: string, opts: { validate?: (value: string) => true | string; cancelled: string }): Promise<string> {
  if (!interactive()) throw new GuardError(ExitCode.USAGE, `cannot ask "${message}" without a terminal`);
  const { input } = await import("@inquirer/prompts");
  try {
    return await input({ message, validate: opts.validate }, { output: stderrStream() as NodeJS.WriteStream, clearPromptOnDone: false });
  } catch (err) {
    if (err instanceof Error && (err.name === "ExitPromptError" || err.name === "AbortPromptError")) {
      throw new GuardError(ExitCode.INTERRUPTED, opts.cancelled, undefined, [], "cancelled");
    }
    throw err;
  }
}
