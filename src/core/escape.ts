/**
 * Rendering untrusted text (reasons, argv, paths, principal names, store records) on an approver's
 * terminal. The request text is hostile (T1, T2): control sequences could clear the screen and paint a
 * fake command, bidi overrides could reorder what is read, invisible characters could hide an extra
 * argument. Everything that is not plainly visible is shown as an escape, and a backslash itself is
 * doubled so that an escape in the output can never be confused with the same characters in the input.
 */

const C0_NAMES = [
  "NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "TAB", "LF", "VT", "FF", "CR", "SO", "SI",
  "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM", "SUB", "ESC", "FS", "GS", "RS", "US",
];
const C1_NAMES = [
  "PAD", "HOP", "BPH", "NBH", "IND", "NEL", "SSA", "ESA", "HTS", "HTJ", "VTS", "PLD", "PLU", "RI", "SS2", "SS3",
  "DCS", "PU1", "PU2", "STS", "CCH", "MW", "SPA", "EPA", "SOS", "SGCI", "SCI", "CSI", "ST", "OSC", "PM", "APC",
];

/** Names for the invisible and reordering characters an approver must be warned about. */
const NAMED: Record<number, string> = {
  0x00a0: "NO-BREAK SPACE",
  0x00ad: "SOFT HYPHEN",
  0x034f: "COMBINING GRAPHEME JOINER",
  0x061c: "ARABIC LETTER MARK",
  0x115f: "HANGUL CHOSEONG FILLER",
  0x1160: "HANGUL JUNGSEONG FILLER",
  0x180e: "MONGOLIAN VOWEL SEPARATOR",
  0x200b: "ZERO WIDTH SPACE",
  0x200c: "ZERO WIDTH NON-JOINER",
  0x200d: "ZERO WIDTH JOINER",
  0x200e: "LEFT-TO-RIGHT MARK",
  0x200f: "RIGHT-TO-LEFT MARK",
  0x2028: "LINE SEPARATOR",
  0x2029: "PARAGRAPH SEPARATOR",
  0x202a: "LEFT-TO-RIGHT EMBEDDING",
  0x202b: "RIGHT-TO-LEFT EMBEDDING",
  0x202c: "POP DIRECTIONAL FORMATTING",
  0x202d: "LEFT-TO-RIGHT OVERRIDE",
  0x202e: "RIGHT-TO-LEFT OVERRIDE",
  0x2060: "WORD JOINER",
  0x2066: "LEFT-TO-RIGHT ISOLATE",
  0x2067: "RIGHT-TO-LEFT ISOLATE",
  0x2068: "FIRST STRONG ISOLATE",
  0x2069: "POP DIRECTIONAL ISOLATE",
  0x2800: "BRAILLE PATTERN BLANK",
  0x3164: "HANGUL FILLER",
  0xfeff: "ZERO WIDTH NO-BREAK SPACE",
  0xffa0: "HALFWIDTH HANGUL FILLER",
};

/**
 * Beyond the named list: every control (Cc), format (Cf: bidi, zero-width, tags), separator other than
 * the plain space, lone surrogate, unassigned or private-use code point, and variation selectors. A new
 * invisible character in a later Unicode version lands in Cf or Cn and is escaped without a code change.
 */
let hiddenClass: RegExp | undefined;
let nonPlainSpace: RegExp | undefined;
// Made on first use: V8 builds these Unicode property classes when the expression is created (about
// 0.2 ms), and `guard run` without anything to show never needs them.
const HIDDEN_CLASS = (): RegExp => (hiddenClass ??= /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Cn}\p{Co}\u{FE00}-\u{FE0F}\u{E0100}-\u{E01EF}]/u);
const NON_PLAIN_SPACE = (): RegExp => (nonPlainSpace ??= /[^\S ]|\p{Zs}/u);

const SHORT_ESCAPES: Record<number, string> = { 0x0a: "\\n", 0x0d: "\\r", 0x09: "\\t" };

function isHidden(cp: number, ch: string): boolean {
  if (cp === 0x20) return false;
  if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) return true;
  if (cp in NAMED) return true;
  if (cp >= 0xd800 && cp <= 0xdfff) return true; // a lone surrogate (pairs arrive as one code point)
  return HIDDEN_CLASS().test(ch) || NON_PLAIN_SPACE().test(ch);
}

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
    else if (isHidden(cp, ch)) out += escapeCodePoint(cp);
    else out += ch;
  }
  return out;
}

/** A human name for a hidden character, e.g. "ESC control" or "U+202E RIGHT-TO-LEFT OVERRIDE". */
export function describeCodePoint(cp: number): string {
  const u = `U+${hex(cp, 4).toUpperCase()}`;
  if (cp < 0x20) return `${C0_NAMES[cp]} control`;
  if (cp === 0x7f) return "DEL control";
  if (cp >= 0x80 && cp <= 0x9f) return `${u} ${C1_NAMES[cp - 0x80]} control`;
  const named = NAMED[cp];
  if (named) return `${u} ${named}`;
  if (cp >= 0xd800 && cp <= 0xdfff) return `${u} lone surrogate`;
  if (cp >= 0xe0000 && cp <= 0xe007f) return `${u} invisible tag character`;
  if ((cp >= 0xfe00 && cp <= 0xfe0f) || (cp >= 0xe0100 && cp <= 0xe01ef)) return `${u} variation selector`;
  return `${u} invisible or unusual character`;
}

/** What hidden characters `s` contains, each named once in order of first appearance (for a warning). */
export function suspiciousChars(s: string): string[] {
  const seen = new Set<number>();
  const out: string[] = [];
  for (const [cp, ch] of codePoints(s)) {
    if (cp === 0x5c || !isHidden(cp, ch) || seen.has(cp)) continue;
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
