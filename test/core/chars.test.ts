import { describe, expect, it } from "vitest";
import { HIDDEN_NAMES, hiddenName, isHidden } from "../../src/core/chars.js";
import { describeCodePoint, escapeForTerminal, neutraliseWorkflowCommands, suspiciousChars } from "../../src/core/escape.js";
import { describeChar, skeleton } from "../../src/core/names.js";

/**
 * The one table of hidden characters (core/chars.ts), and that escape.ts and names.ts both follow it:
 * a character is escaped on a terminal exactly when names.ts drops it from a skeleton and names it.
 */
const HIDDEN: [string, number, string][] = [
  ["C0 NUL", 0x00, "U+0000 NULL"],
  ["C0 BEL", 0x07, "U+0007 BELL"],
  ["C0 TAB", 0x09, "U+0009 CHARACTER TABULATION"],
  ["C0 LF", 0x0a, "U+000A LINE FEED"],
  ["C0 CR", 0x0d, "U+000D CARRIAGE RETURN"],
  ["C0 ESC", 0x1b, "U+001B ESCAPE"],
  ["C0 US", 0x1f, "U+001F INFORMATION SEPARATOR ONE"],
  ["DEL", 0x7f, "U+007F DELETE"],
  ["C1 PAD", 0x80, "U+0080 PADDING CHARACTER"],
  ["C1 NEL", 0x85, "U+0085 NEXT LINE"],
  ["C1 CSI", 0x9b, "U+009B CONTROL SEQUENCE INTRODUCER"],
  ["C1 ST", 0x9c, "U+009C STRING TERMINATOR"],
  ["C1 OSC", 0x9d, "U+009D OPERATING SYSTEM COMMAND"],
  ["C1 APC", 0x9f, "U+009F APPLICATION PROGRAM COMMAND"],
  ["no-break space", 0xa0, "U+00A0 NO-BREAK SPACE"],
  ["soft hyphen", 0xad, "U+00AD SOFT HYPHEN"],
  ["combining grapheme joiner", 0x34f, "U+034F COMBINING GRAPHEME JOINER"],
  ["Arabic letter mark", 0x61c, "U+061C ARABIC LETTER MARK"],
  ["Hangul filler", 0x3164, "U+3164 HANGUL FILLER"],
  ["Mongolian vowel separator", 0x180e, "U+180E MONGOLIAN VOWEL SEPARATOR"],
  ["em space", 0x2003, "U+2003 EM SPACE"],
  ["ideographic space", 0x3000, "U+3000 IDEOGRAPHIC SPACE"],
  ["zero width space", 0x200b, "U+200B ZERO WIDTH SPACE"],
  ["zero width non-joiner", 0x200c, "U+200C ZERO WIDTH NON-JOINER"],
  ["zero width joiner", 0x200d, "U+200D ZERO WIDTH JOINER"],
  ["word joiner", 0x2060, "U+2060 WORD JOINER"],
  ["invisible times", 0x2062, "U+2062 INVISIBLE TIMES"],
  ["LRM", 0x200e, "U+200E LEFT-TO-RIGHT MARK"],
  ["RLM", 0x200f, "U+200F RIGHT-TO-LEFT MARK"],
  ["LRE", 0x202a, "U+202A LEFT-TO-RIGHT EMBEDDING"],
  ["RLE", 0x202b, "U+202B RIGHT-TO-LEFT EMBEDDING"],
  ["PDF", 0x202c, "U+202C POP DIRECTIONAL FORMATTING"],
  ["LRO", 0x202d, "U+202D LEFT-TO-RIGHT OVERRIDE"],
  ["RLO", 0x202e, "U+202E RIGHT-TO-LEFT OVERRIDE"],
  ["LRI", 0x2066, "U+2066 LEFT-TO-RIGHT ISOLATE"],
  ["RLI", 0x2067, "U+2067 RIGHT-TO-LEFT ISOLATE"],
  ["FSI", 0x2068, "U+2068 FIRST STRONG ISOLATE"],
  ["PDI", 0x2069, "U+2069 POP DIRECTIONAL ISOLATE"],
  ["deprecated format character", 0x206a, "U+206A invisible or unusual character"],
  ["line separator", 0x2028, "U+2028 LINE SEPARATOR"],
  ["paragraph separator", 0x2029, "U+2029 PARAGRAPH SEPARATOR"],
  ["BOM", 0xfeff, "U+FEFF ZERO WIDTH NO-BREAK SPACE"],
  ["interlinear annotation anchor", 0xfff9, "U+FFF9 invisible or unusual character"],
  ["variation selector 16", 0xfe0f, "U+FE0F variation selector"],
  ["variation selector 17", 0xe0100, "U+E0100 variation selector"],
  ["language tag", 0xe0001, "U+E0001 tag character (invisible)"],
  ["tag A", 0xe0041, "U+E0041 tag character (invisible)"],
  ["cancel tag", 0xe007f, "U+E007F tag character (invisible)"],
  ["lone high surrogate", 0xd800, "U+D800 lone surrogate"],
  ["lone low surrogate", 0xdfff, "U+DFFF lone surrogate"],
  ["private use", 0xe000, "U+E000 invisible or unusual character"],
  ["unassigned", 0x0378, "U+0378 invisible or unusual character"],
  ["musical symbol begin beam (format)", 0x1d173, "U+1D173 invisible or unusual character"],
];

const VISIBLE: [string, number][] = [
  ["plain space", 0x20],
  ["letter", 0x61],
  ["backslash (doubled by escaping, but visible)", 0x5c],
  ["tilde", 0x7e],
  ["e acute", 0xe9],
  ["Cyrillic o (a confusable, but visible: names.ts refuses it by name)", 0x43e],
  ["arrow", 0x2192],
  ["CJK", 0x65e5],
  ["emoji", 0x1f600],
];

describe("one table of hidden characters, shared by escape.ts and names.ts", () => {
  it.each(HIDDEN)("%s is hidden and named the same everywhere", (_what, cp, name) => {
    const ch = String.fromCodePoint(cp);
    expect(isHidden(cp)).toBe(true);
    expect(hiddenName(cp)).toBe(name);
    expect(describeCodePoint(cp)).toBe(name);
    expect(suspiciousChars(`a${ch}b`)).toEqual([name]);
    expect(describeChar(ch)).toBe(name);
    expect(escapeForTerminal(ch)).toMatch(/^\\(x[0-9a-f]{2}|u[0-9a-f]{4}|u\{[0-9a-f]+\}|[nrt])$/);
    expect(skeleton(`pr${ch}od`)).toBe("prod");
  });

  it.each(VISIBLE)("%s is not hidden", (_what, cp) => {
    const ch = String.fromCodePoint(cp);
    expect(isHidden(cp)).toBe(false);
    expect(hiddenName(cp)).toBeNull();
    expect(suspiciousChars(ch)).toEqual([]);
    if (cp !== 0x5c) expect(escapeForTerminal(ch)).toBe(ch);
  });

  it("isHidden agrees with its definition (named, controls, and the Unicode classes) on every BMP code point, fast paths included", () => {
    const classes = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Zs}\p{Cs}\p{Cn}\p{Co}\s\u{FE00}-\u{FE0F}]/u;
    for (let cp = 0; cp <= 0xffff; cp++) {
      const expected = cp !== 0x20 && (cp in HIDDEN_NAMES || classes.test(String.fromCodePoint(cp)));
      if (isHidden(cp) !== expected) throw new Error(`U+${cp.toString(16)}: isHidden ${isHidden(cp)}, defined ${expected}`);
    }
  });

  it("every code point: escaped on a terminal exactly when hidden (exhaustive over the BMP and the tag/selector planes)", () => {
    const ranges: [number, number][] = [[0, 0xffff], [0xe0000, 0xe01ff]];
    for (const [lo, hi] of ranges) {
      for (let cp = lo; cp <= hi; cp++) {
        if (cp === 0x5c) continue;
        const ch = String.fromCodePoint(cp);
        const escaped = escapeForTerminal(ch) !== ch;
        if (escaped !== isHidden(cp)) throw new Error(`U+${cp.toString(16)}: escaped ${escaped}, hidden ${isHidden(cp)}`);
        if (isHidden(cp) && skeleton(ch) !== "") throw new Error(`U+${cp.toString(16)} is hidden but kept by the skeleton`);
      }
    }
  });
});

describe("neutraliseWorkflowCommands: nothing guard prints can start a CI workflow command", () => {
  it.each([
    ["plain text is unchanged", "request r-1 for ./purge.sh", "request r-1 for ./purge.sh"],
    ["`::` inside a line is harmless and kept", "time 12:00:00 a::b", "time 12:00:00 a::b"],
    ["a line-leading ::error::", "::error::owned", "\\x3a:error::owned"],
    ["after leading spaces and tabs", "   \t::warning::x", "   \t\\x3a:warning::x"],
    ["on a later line (LF)", "ok\n::stop-commands::t", "ok\n\\x3a:stop-commands::t"],
    ["on a later line (CR, which the runner also splits at)", "ok\r::set-output name=a::b", "ok\r\\x3a:set-output name=a::b"],
    ["after CRLF and indentation", "ok\r\n    ::add-mask::x", "ok\r\n    \\x3a:add-mask::x"],
    ["after a colour code", "\x1b[33m::error::x", "\x1b[33m\\x3a:error::x"],
    ["every line", "::a::\n::b::", "\\x3a:a::\n\\x3a:b::"],
    ["legacy ##[ at the start", "##[error]owned", "#\\x23[error]owned"],
    ["legacy ##[ anywhere in the line", "reason: ##[set-env name=X;]y", "reason: #\\x23[set-env name=X;]y"],
    ["###[ leaves no ##[", "###[x", "##\\x23[x"],
  ])("%s", (_name, input, expected) => {
    const out = neutraliseWorkflowCommands(input);
    expect(out).toBe(expected);
    expect(out).not.toContain("##[");
    for (const line of out.split(/\r\n|\r|\n/)) expect(line.replace(/\x1b\[[0-9;]*m/g, "").trimStart().startsWith("::")).toBe(false);
  });
});
