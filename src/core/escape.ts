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

/** Guard's own styling (adapters/style.ts: bold, dim, colours, their closes) and its progress-line erase. */
const OWN_SEQUENCE = /\x1b\[(?:1|2|22|3[1-79]|41|49)m|\r?\x1b\[2K/y;

/**
 * The last line of defence where guard writes (adapters/output.ts): every hidden character that is not
 * guard's own layout — LF, TAB, its colour codes, its `\r ESC[2K` progress erase — is shown as an
 * escape. Text from others reaches this point already escaped (escapeForTerminal), so this changes
 * nothing in correct output; a field a command forgot to escape still cannot clear the screen, move the
 * cursor, reorder a line or hide a character. Backslashes are left alone (this is not injective: it is
 * a net, not the escaping).
 */
export function escapeStrayControls(text: string): string {
  if (!NOT_PLAIN.test(text)) return text;
  let out = "";
  for (let i = 0; i < text.length; ) {
    const cp = text.codePointAt(i)!;
    if (cp === 0x1b || cp === 0x0d) {
      OWN_SEQUENCE.lastIndex = i;
      const own = OWN_SEQUENCE.exec(text);
      if (own) {
        out += own[0];
        i += own[0].length;
        continue;
      }
    }
    const len = cp > 0xffff ? 2 : 1;
    out += cp === 0x0a || cp === 0x09 || !isHidden(cp) ? text.slice(i, i + len) : escapeCodePoint(cp);
    i += len;
  }
  return out;
}

const NOT_PLAIN = /[^\t\n\x20-\x7e]/;

/**
 * JSON text that is safe wherever it is shown: the same JSON value as JSON.stringify, but every hidden
 * character (core/chars.ts; JSON.stringify leaves DEL, C1, bidi and zero-width characters raw) is
 * written as a `\uXXXX` escape, and `##[` as `#\u0023[` (a CI runner acts on `##[` anywhere in a line).
 * For --json reports and webhook payloads: consumers get the exact values, terminals and logs get no
 * control sequence.
 */
export function safeJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent)
    .replaceAll("##[", "#\\u0023[")
    .replace(/[^\x00-\x7e]/gu, (ch) => (isHidden(ch.codePointAt(0)!) ? jsonEscape(ch) : ch));
}

function jsonEscape(ch: string): string {
  let out = "";
  for (let i = 0; i < ch.length; i++) out += `\\u${ch.charCodeAt(i).toString(16).padStart(4, "0")}`;
  return out;
}
