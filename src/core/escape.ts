/**
 * Rendering untrusted text (reasons, argv, paths, principal names, store records) on an approver's
 * terminal. The request text is hostile (T1, T2): control sequences could clear the screen and paint a
 * fake command, bidi overrides could reorder what is read, invisible characters could hide an extra
 * argument. Everything that is not plainly visible is shown as an escape, and a backslash itself is
 * doubled so that an escape in the output can never be confused with the same characters in the input.
 *
 * What counts as hidden is decided in one place, core/chars.ts, shared with names.ts.
 */
import { codePointLabel, hiddenName, isHidden } from "./chars.js";

const SHORT_ESCAPES: Record<number, string> = { 0x0a: "\\n", 0x0d: "\\r", 0x09: "\\t" };

function hex(cp: number, width: number): string {
  return cp.toString(16).padStart(width, "0");
}

function escapeCodePoint(cp: number): string {
  const short = SHORT_ESCAPES[cp];
  if (short) return short;
  if (cp < 0x80) return `\\x${hex(cp, 2)}`;
  if (cp <= 0xffff) return `\\u${hex(cp, 4)}`;
  return `\\u{${hex(cp, 1)}}`;
}

/** Code points of `s`, keeping lone surrogates as their own entries (for...of already does this). */
function* codePoints(s: string): Generator<[number, string]> {
  for (const ch of s) yield [ch.codePointAt(0)!, ch];
}

/** `s` with every hidden or control character shown as an escape and `\` shown as `\\`. */
export function escapeForTerminal(s: string): string {
  let out = "";
  for (const [cp, ch] of codePoints(s)) {
    if (cp === 0x5c) out += "\\\\";
    else if (isHidden(cp)) out += escapeCodePoint(cp);
    else out += ch;
  }
  return out;
}

/** A human name for a hidden character, e.g. "U+001B ESCAPE" or "U+202E RIGHT-TO-LEFT OVERRIDE". */
export function describeCodePoint(cp: number): string {
  return hiddenName(cp) ?? `${codePointLabel(cp)} invisible or unusual character`;
}

/** What hidden characters `s` contains, each named once in order of first appearance (for a warning). */
export function suspiciousChars(s: string): string[] {
  const seen = new Set<number>();
  const out: string[] = [];
  for (const [cp] of codePoints(s)) {
    if (cp === 0x5c || !isHidden(cp) || seen.has(cp)) continue;
    seen.add(cp);
    out.push(describeCodePoint(cp));
  }
  return out;
}

/**
 * A principal id restricted to printable ASCII: anything else is escaped, so a Cyrillic `а` in `аlice`
 * reads `\u0430lice` (T3). Look-alikes inside ASCII (`aIice`) stay legal; the defence against them is
 * showing the key fingerprint next to the name, see describePrincipal.
 */
export function asciiIdentifier(s: string): string {
  let out = "";
  for (const [cp] of codePoints(s)) {
    if (cp === 0x5c) out += "\\\\";
    else if (cp > 0x20 && cp < 0x7f) out += String.fromCodePoint(cp);
    else out += escapeCodePoint(cp);
  }
  return out === "" ? '""' : out;
}

/** How a signer is shown to an approver: ASCII-restricted name plus the key fingerprint (T3). */
export function describePrincipal(name: string | null, fingerprint: string): string {
  const who = name === null ? "(unregistered key)" : asciiIdentifier(name);
  return `${who} [${escapeForTerminal(fingerprint)}]`;
}

const SHELL_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * Shell-style display of argv: each argument stands alone, so `["a b"]` reads `'a b'` and `["a","b"]`
 * reads `a b` (C7). An argument with a hidden character or a backslash is shown in bash's ANSI-C form
 * `$'…'`, where `\n`, `\x1b`, `\u202e` and `\\` mean exactly what they say; otherwise plain single
 * quotes are used when the argument is not made only of characters that need no quoting.
 */
export function quoteArgv(argv: readonly string[]): string {
  return argv.map(quoteArg).join(" ");
}

/** One argument as quoteArgv shows it. */
export function quoteArg(arg: string): string {
  if (SHELL_SAFE.test(arg)) return arg;
  const escaped = escapeForTerminal(arg);
  if (escaped !== arg) return `$'${escaped.replace(/'/g, "\\'")}'`;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * A line start (text start, or after CR or LF), then white space that is not a line break or colour
 * codes (guard's own styling, in case a runner strips them before it reads), then `::`.
 */
const LINE_LEADING_COMMAND = /(^|[\r\n])((?:(?![\r\n])[\s\x85]|\x1b\[[0-9;]*m)*)::/g;

/**
 * Output that no CI runner can read as a command. The GitHub Actions runner acts on a line that starts
 * with `::` after leading white space, and on `##[` ANYWHERE in a line (the legacy format); it splits
 * lines at CR, LF and CRLF. Guard's own text never does either, so every occurrence in what guard prints
 * quotes someone else: the leading `:` becomes `\x3a` and the second `#` of `##[` becomes `\x23`, the
 * same notation escapeForTerminal uses (whose doubled backslashes keep it unambiguous). Applied where
 * guard writes its lines (adapters/output.ts), whatever the environment says, so a command that forgets
 * to escape one field still cannot start a workflow command.
 */
export function neutraliseWorkflowCommands(text: string): string {
  if (!text.includes("::") && !text.includes("##[")) return text;
  return text.replaceAll("##[", "#\\x23[").replace(LINE_LEADING_COMMAND, "$1$2\\x3a:");
}
