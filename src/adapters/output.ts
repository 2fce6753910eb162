/**
 * Everything guard itself prints. Guard's own messages go to stderr (during `run` the wrapped command's
 * stdout must stay clean); reports requested with --json go to stdout. Colour follows the terminal,
 * NO_COLOR and FORCE_COLOR. Text that came from someone else is escaped by the caller (core/escape.ts).
 *
 * Every write goes through this module, which makes sure that nothing guard prints can start a CI
 * workflow command (neutraliseWorkflowCommands: a line-leading `::`, a `##[` anywhere), whatever the
 * caller forgot and whether or not GITHUB_ACTIONS is set. Guard's own workflow commands (adapters/ci.ts)
 * are the only lines written around it.
 */
import { colourWanted, styles, type Style } from "./style.js";
import { GuardError, PolicyError, formatDiagnostic } from "../core/errors.js";
import { escapeForTerminal, escapeStrayControls, neutraliseWorkflowCommands, safeJson } from "../core/escape.js";

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

/** Raw text on stderr (a progress line, a JSON status), never able to start a workflow command. */
export function writeStderr(text: string): void {
  process.stderr.write(neutraliseWorkflowCommands(escapeStrayControls(text)));
}

/** Raw text on stdout (JSON lines, help), never able to start a workflow command. */
export function writeStdout(text: string): void {
  process.stdout.write(neutraliseWorkflowCommands(escapeStrayControls(text)));
}

export function say(line = ""): void {
  writeStderr(`${line}\n`);
}

/** JSON for machines: the exact values, with no hidden character or `##[` written raw (core/escape.ts safeJson). */
export function jsonText(value: unknown, indent?: number): string {
  return safeJson(value, indent);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${jsonText(value, 2)}\n`);
}

/** One JSON value on one line (for streams of events), with the same `##[` rule as printJson. */
export function printJsonLine(value: unknown, stream: NodeJS.WritableStream = process.stdout): void {
  stream.write(`${jsonText(value)}\n`);
}

export function printStdout(line = ""): void {
  writeStdout(`${line}\n`);
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
    printJsonLine(
      { error: { code: err.code, exitCode: err.exitCode, message: err.message, hint: err.hint ?? null, details: err.details, diagnostics: err instanceof PolicyError ? err.diagnostics : undefined } },
      process.stderr,
    );
  }
}
