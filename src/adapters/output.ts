/**
 * Everything guard itself prints. Guard's own messages go to stderr (during `run` the wrapped command's
 * stdout must stay clean); reports requested with --json go to stdout. Colour follows the terminal,
 * NO_COLOR and FORCE_COLOR. Text that came from someone else is escaped by the caller (core/escape.ts).
 *
 * guard reaches its stdout and stderr only through stdoutStream() and stderrStream() (lint holds the
 * rest of src/ to that). Node makes each stream on first use, which costs milliseconds for a pipe or a
 * terminal; an allowed `guard run` prints nothing and makes neither. Each stream gets its error handler
 * as guard first uses it: a reader that went away (`guard … | head`: EPIPE) ends nothing but the output;
 * any other failure to write (a full disk) is remembered for finishOutput().
 *
 * Every write goes through this module, which makes sure that nothing guard prints can start a CI
 * workflow command (neutraliseWorkflowCommands: a line-leading `::`, a `##[` anywhere), whatever the
 * caller forgot and whether or not GITHUB_ACTIONS is set. Guard's own workflow commands (adapters/ci.ts)
 * are the only lines written around it.
 */
import { fstatSync, type Stats } from "node:fs";
import { isDevNull } from "./regular-file.js";
import { colourWanted, styles, type Style } from "./style.js";
import { GuardError, PolicyError, formatDiagnostic } from "../core/errors.js";
import { escapeForTerminal, escapeStrayControls, neutraliseWorkflowCommands, safeJson } from "../core/escape.js";

let jsonErrors = false;

/** A stream guard writes to: the process's own, or one a test captures. */
export type OutStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number; destroyed?: boolean };

/**
 * The terminal guard writes to (runtime.ts carries it): its stdout and stderr, made on first use, and
 * whether stdin is a terminal. `env` is what colour follows (NO_COLOR, FORCE_COLOR).
 */
export interface Terminal {
  stdout(): OutStream;
  stderr(): OutStream;
  stdinIsTTY(): boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** The real process's terminal; Node makes each stream only when it is first asked for. */
export function processTerminal(): Terminal {
  return { stdout: () => process.stdout, stderr: () => process.stderr, stdinIsTTY: stdinIsTerminal, env: process.env };
}

/**
 * Whether the process's stdin is a terminal, without making process.stdin for anything else: for a file
 * or /dev/null (a CI job's stdin, a spawned racer's) Node builds a file stream, loading node:fs/promises
 * and readline with it, ~2 ms on Node 20 that `guard run --request`, `approve` and `deny` paid only to
 * learn that it is not a terminal. A terminal is a character device; /dev/null is the one that is not.
 */
function stdinIsTerminal(): boolean {
  let st: Stats;
  try {
    st = fstatSync(0);
  } catch {
    return false; // closed
  }
  return st.isCharacterDevice() && !isDevNull(st) && process.stdin.isTTY === true;
}

let terminal: Terminal | null = null;

/**
 * Write to this terminal from now on (entry.ts: the process's; Context.create: its runtime's). One
 * terminal per process at a time: guard runs one command per process, and a test that runs two commands
 * at once in process sees the output of both on the terminal of the one started last.
 */
export function useTerminal(t: Terminal): void {
  terminal = t;
}

/** The terminal in use: the one given to useTerminal, else the process's. */
export function currentTerminal(): Terminal {
  terminal ??= processTerminal();
  return terminal;
}

/** The streams guard has used, and the first failure to write one for a reason other than EPIPE. */
const used = new Set<OutStream>();
let outputFailure: NodeJS.ErrnoException | null = null;

function inUse(stream: OutStream): OutStream {
  if (!used.has(stream)) {
    used.add(stream);
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code !== "EPIPE") outputFailure ??= err;
    });
  }
  return stream;
}

export function stdoutStream(): OutStream {
  return inUse(currentTerminal().stdout());
}

export function stderrStream(): OutStream {
  return inUse(currentTerminal().stderr());
}

/**
 * Wait until what guard wrote to its streams has drained (a piped `--json` consumer gets every byte) and
 * answer the first failure to write it, if any.
 */
export async function finishOutput(): Promise<NodeJS.ErrnoException | null> {
  for (const stream of used) {
    if (!stream.destroyed) await new Promise<void>((resolve) => stream.write("", () => resolve()));
  }
  return outputFailure;
}

/** Under --json, errors are also printed as one JSON object on stderr. */
export function setJsonErrors(on: boolean): void {
  jsonErrors = on;
}

export type { Style } from "./style.js";

let colourChoice: boolean | null = null;

/** `--color` / `--no-color` (entry.ts): they win over NO_COLOR, FORCE_COLOR and the terminal. */
export function setColour(on: boolean | null): void {
  colourChoice = on;
}

/** Styles for output to `stream` (stderr unless said): coloured only where colour is wanted (style.ts). */
export function colours(stream: OutStream = stderrStream()): Style {
  return styles(colourChoice ?? colourWanted(currentTerminal().env, stream.isTTY === true));
}

/** Raw text on stderr (a progress line, a JSON status), never able to start a workflow command. */
export function writeStderr(text: string): void {
  stderrStream().write(neutraliseWorkflowCommands(escapeStrayControls(text)));
}

/** Raw text on stdout (JSON lines, help), never able to start a workflow command. */
export function writeStdout(text: string): void {
  stdoutStream().write(neutraliseWorkflowCommands(escapeStrayControls(text)));
}

export function say(line = ""): void {
  writeStderr(`${line}\n`);
}

/** JSON for machines: the exact values, with no hidden character or `##[` written raw (core/escape.ts safeJson). */
export function jsonText(value: unknown, indent?: number): string {
  return safeJson(value, indent);
}

export function printJson(value: unknown): void {
  stdoutStream().write(`${jsonText(value, 2)}\n`);
}

/**
 * printJson of an object whose members are lists, written one list item at a time: the same text as
 * printJson, but never one string holding all of it (a listing of 100,000 requests is more text than a
 * JavaScript string can hold), and waiting for the stream to drain as it goes so a slow reader holds
 * guard's memory flat.
 */
export async function printJsonLists(value: Record<string, readonly unknown[]>, out: NodeJS.WritableStream = stdoutStream()): Promise<void> {
  // A reader that goes away (`| head`) ends the wait as "drain" would: the write error itself is handled
  // where every stream's is (inUse), and nothing more is written to a stream that is gone.
  const write = async (text: string): Promise<void> => {
    if ((out as OutStream).destroyed || out.write(text)) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        out.off("drain", done);
        out.off("error", done);
        out.off("close", done);
        resolve();
      };
      out.on("drain", done);
      out.on("error", done);
      out.on("close", done);
    });
  };
  const keys = Object.keys(value);
  if (keys.length === 0) return write("{}\n");
  let chunk = "{\n";
  for (const [k, key] of keys.entries()) {
    const items = value[key]!;
    chunk += `  ${jsonText(key)}: ${items.length === 0 ? "[]" : "["}`;
    for (const [i, item] of items.entries()) {
      chunk += `\n    ${jsonText(item, 2).replaceAll("\n", "\n    ")}${i < items.length - 1 ? "," : ""}`;
      if (chunk.length >= 1 << 16) {
        await write(chunk);
        chunk = "";
      }
    }
    chunk += `${items.length === 0 ? "" : "\n  ]"}${k < keys.length - 1 ? "," : ""}\n`;
  }
  await write(`${chunk}}\n`);
}

/** One JSON value on one line (for streams of events), with the same `##[` rule as printJson. */
export function printJsonLine(value: unknown, stream: NodeJS.WritableStream = stdoutStream()): void {
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
      stderrStream(),
    );
  }
}
