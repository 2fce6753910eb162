/**
 * Everything guard itself prints. Guard's own messages go to stderr (during `run` the wrapped command's
 * stdout must stay clean); reports requested with --json go to stdout. Colour follows the terminal,
 * NO_COLOR and FORCE_COLOR. Text that came from someone else is escaped by the caller (core/escape.ts).
 */
import { colourWanted, styles, type Style } from "./style.js";
import { GuardError, PolicyError, formatDiagnostic } from "../core/errors.js";
import { escapeForTerminal } from "../core/escape.js";

let jsonErrors = false;

/** Under --json, errors are also printed as one JSON object on stderr. */
export function setJsonErrors(on: boolean): void {
  jsonErrors = on;
}

export type { Style } from "./style.js";

/** Styles for output to `stream` (stderr unless said): coloured only where colour is wanted (style.ts). */
export function colours(stream: NodeJS.WriteStream = process.stderr): Style {
  return styles(colourWanted(process.env, stream.isTTY === true));
}

export function say(line = ""): void {
  process.stderr.write(`${line}\n`);
}

/**
 * JSON for machines. `##[` is written as `#\u0023[` (the same JSON value): the GitHub Actions runner acts
 * on any output line containing `##[`, and argv or reasons from other people must never become a
 * workflow command.
 */
export function jsonText(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replaceAll("##[", "#\\u0023[");
}

export function printJson(value: unknown): void {
  process.stdout.write(`${jsonText(value, 2)}\n`);
}

export function printStdout(line = ""): void {
  process.stdout.write(`${line}\n`);
}

export function reportError(err: GuardError): void {
  const c = colours();
  if (err instanceof PolicyError) {
    for (const d of err.diagnostics) say(`${d.severity === "error" ? c.red("✖") : c.yellow("⚠")} ${formatDiagnostic(d)}`);
  }
  say(`${c.red.bold("guard:")} ${escapeForTerminal(err.message)}`);
  for (const line of err.details) say(`  ${line}`);
  if (err.hint) say(`${c.dim("  → ")}${err.hint}`);
  if (jsonErrors) {
    process.stderr.write(
      `${JSON.stringify({
        error: { code: err.code, exitCode: err.exitCode, message: err.message, hint: err.hint ?? null, details: err.details, diagnostics: err instanceof PolicyError ? err.diagnostics : undefined },
      })}\n`,
    );
  }
}
