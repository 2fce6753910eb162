/**
 * The one table of characters a reader cannot see or must be warned about: controls (C0, DEL, C1),
 * bidi embeddings, overrides, isolates and marks, zero-width characters, the BOM, line and paragraph
 * separators, blank-looking fillers and spaces other than the plain space, tag characters, variation
 * selectors, lone surrogates, private-use and unassigned code points. escape.ts shows them as escapes
 * (T1, T2); names.ts drops them from a skeleton and names them in refusals (E2). Both read this module
 * only, so the two can never again disagree about what is hidden.
 */

/** Unicode names (or aliases) of the controls, indexed by code point 0x00–0x1f. */
const C0 = [
  "NULL", "START OF HEADING", "START OF TEXT", "END OF TEXT", "END OF TRANSMISSION", "ENQUIRY", "ACKNOWLEDGE", "BELL",
  "BACKSPACE", "CHARACTER TABULATION", "LINE FEED", "LINE TABULATION", "FORM FEED", "CARRIAGE RETURN", "SHIFT OUT", "SHIFT IN",
  "DATA LINK ESCAPE", "DEVICE CONTROL ONE", "DEVICE CONTROL TWO", "DEVICE CONTROL THREE", "DEVICE CONTROL FOUR", "NEGATIVE ACKNOWLEDGE", "SYNCHRONOUS IDLE", "END OF TRANSMISSION BLOCK",
  "CANCEL", "END OF MEDIUM", "SUBSTITUTE", "ESCAPE", "INFORMATION SEPARATOR FOUR", "INFORMATION SEPARATOR THREE", "INFORMATION SEPARATOR TWO", "INFORMATION SEPARATOR ONE",
];

/** 0x80–0x9f. */
const C1 = [
  "PADDING CHARACTER", "HIGH OCTET PRESET", "BREAK PERMITTED HERE", "NO BREAK HERE", "INDEX", "NEXT LINE", "START OF SELECTED AREA", "END OF SELECTED AREA",
  "CHARACTER TABULATION SET", "CHARACTER TABULATION WITH JUSTIFICATION", "LINE TABULATION SET", "PARTIAL LINE FORWARD", "PARTIAL LINE BACKWARD", "REVERSE LINE FEED", "SINGLE SHIFT TWO", "SINGLE SHIFT THREE",
  "DEVICE CONTROL STRING", "PRIVATE USE ONE", "PRIVATE USE TWO", "SET TRANSMIT STATE", "CANCEL CHARACTER", "MESSAGE WAITING", "START OF GUARDED AREA", "END OF GUARDED AREA",
  "START OF STRING", "SINGLE GRAPHIC CHARACTER INTRODUCER", "SINGLE CHARACTER INTRODUCER", "CONTROL SEQUENCE INTRODUCER", "STRING TERMINATOR", "OPERATING SYSTEM COMMAND", "PRIVACY MESSAGE", "APPLICATION PROGRAM COMMAND",
];

/** Named hidden characters outside the controls: invisible, blank-looking, reordering or line-breaking. */
export const HIDDEN_NAMES: Readonly<Record<number, string>> = {
  0x00a0: "NO-BREAK SPACE",
  0x00ad: "SOFT HYPHEN",
  0x034f: "COMBINING GRAPHEME JOINER",
  0x061c: "ARABIC LETTER MARK",
  0x115f: "HANGUL CHOSEONG FILLER",
  0x1160: "HANGUL JUNGSEONG FILLER",
  0x1680: "OGHAM SPACE MARK",
  0x180e: "MONGOLIAN VOWEL SEPARATOR",
  0x2000: "EN QUAD",
  0x2001: "EM QUAD",
  0x2002: "EN SPACE",
  0x2003: "EM SPACE",
  0x2004: "THREE-PER-EM SPACE",
  0x2005: "FOUR-PER-EM SPACE",
  0x2006: "SIX-PER-EM SPACE",
  0x2007: "FIGURE SPACE",
  0x2008: "PUNCTUATION SPACE",
  0x2009: "THIN SPACE",
  0x200a: "HAIR SPACE",
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
  0x202f: "NARROW NO-BREAK SPACE",
  0x205f: "MEDIUM MATHEMATICAL SPACE",
  0x2060: "WORD JOINER",
  0x2061: "FUNCTION APPLICATION",
  0x2062: "INVISIBLE TIMES",
  0x2063: "INVISIBLE SEPARATOR",
  0x2064: "INVISIBLE PLUS",
  0x2066: "LEFT-TO-RIGHT ISOLATE",
  0x2067: "RIGHT-TO-LEFT ISOLATE",
  0x2068: "FIRST STRONG ISOLATE",
  0x2069: "POP DIRECTIONAL ISOLATE",
  0x2800: "BRAILLE PATTERN BLANK",
  0x3000: "IDEOGRAPHIC SPACE",
  0x3164: "HANGUL FILLER",
  0xfeff: "ZERO WIDTH NO-BREAK SPACE",
  0xffa0: "HALFWIDTH HANGUL FILLER",
};

let hiddenClass: RegExp | undefined;
// Made on first use: V8 builds these Unicode property classes when the expression is created (about
// 0.2 ms), and `guard run` without anything to show never needs them.
// Every control (Cc), format (Cf: bidi, zero-width, tags), line/paragraph separator, space other than
// the plain one (Zs, and the JS white space that is not Zs), lone surrogate, private-use or unassigned
// code point, and the variation selectors: a new invisible character in a later Unicode version lands
// in Cf or Cn and is hidden here without a code change.
const HIDDEN_CLASS = (): RegExp =>
  (hiddenClass ??= /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Zs}\p{Cs}\p{Cn}\p{Co}\s\u{FE00}-\u{FE0F}\u{E0100}-\u{E01EF}]/u);

/** Whether code point `cp` is hidden: anything but a plainly visible character or the ASCII space. */
export function isHidden(cp: number): boolean {
  if (cp === 0x20) return false;
  if (cp > 0x20 && cp < 0x7f) return false; // the fast path: printable ASCII
  if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) return true;
  // Fast paths for what guard itself prints (→ ✔ ✖ ⚠ ━ … é): blocks with no hidden or unassigned code
  // point, so the Unicode classes below are built only when text from someone else needs them.
  // test/core/chars.test.ts checks these ranges against the classes.
  if (cp >= 0xa1 && cp <= 0xff) return cp === 0xad;
  if ((cp >= 0x2010 && cp <= 0x2027) || (cp >= 0x2030 && cp <= 0x205e) || (cp >= 0x2190 && cp <= 0x23ff) || (cp >= 0x2500 && cp <= 0x27bf)) return false;
  if (cp in HIDDEN_NAMES) return true;
  if (cp >= 0xd800 && cp <= 0xdfff) return true; // a lone surrogate (pairs arrive as one code point)
  return HIDDEN_CLASS().test(String.fromCodePoint(cp));
}

/** "U+0000"-style code point label. */
export function codePointLabel(cp: number): string {
  return `U+${cp.toString(16).toUpperCase().padStart(4, "0")}`;
}

/**
 * The name of a hidden character, e.g. "U+001B ESCAPE", "U+202E RIGHT-TO-LEFT OVERRIDE",
 * "U+E0041 tag character (invisible)"; null for a character that is not hidden.
 */
export function hiddenName(cp: number): string | null {
  const u = codePointLabel(cp);
  if (cp < 0x20) return `${u} ${C0[cp]}`;
  if (cp === 0x7f) return `${u} DELETE`;
  if (cp >= 0x80 && cp <= 0x9f) return `${u} ${C1[cp - 0x80]}`;
  const named = HIDDEN_NAMES[cp];
  if (named) return `${u} ${named}`;
  if (!isHidden(cp)) return null;
  if (cp >= 0xd800 && cp <= 0xdfff) return `${u} lone surrogate`;
  if (cp >= 0xe0000 && cp <= 0xe007f) return `${u} tag character (invisible)`;
  if ((cp >= 0xfe00 && cp <= 0xfe0f) || (cp >= 0xe0100 && cp <= 0xe01ef)) return `${u} variation selector`;
  return `${u} invisible or unusual character`;
}
