import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { asciiIdentifier, describePrincipal, escapeForTerminal, escapeStrayControls, quoteArgv, safeJson, suspiciousChars } from "../../src/core/escape.js";

/** Nothing a terminal would interpret or hide may survive escaping. */
const DANGEROUS = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ud800-\udfff]/u;

describe("escapeForTerminal", () => {
  it.each([
    ["plain text is unchanged", "purge lb state", "purge lb state"],
    ["T1: ESC clear-screen sequence", "\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H"],
    ["T1: carriage return overwriting the line", "ok\rCommand: ./status.sh", "ok\\rCommand: ./status.sh"],
    ["T1: OSC 52 clipboard write", "\x1b]52;c;ZXZpbA==\x07", "\\x1b]52;c;ZXZpbA==\\x07"],
    ["T1: OSC 8 hyperlink", "\x1b]8;;http://evil\x1b\\x\x1b]8;;\x1b\\", "\\x1b]8;;http://evil\\x1b\\\\x\\x1b]8;;\\x1b\\\\"],
    ["T1: C1 CSI (U+009B) and NEL", "a\u009b2Jb\u0085", "a\\u009b2Jb\\u0085"],
    ["newline and tab", "a\nb\tc", "a\\nb\\tc"],
    ["NUL and DEL", "\0\x7f", "\\x00\\x7f"],
    ["T2: RIGHT-TO-LEFT OVERRIDE", "rm \u202eevil", "rm \\u202eevil"],
    ["T2: bidi isolates", "\u2066a\u2067b\u2068c\u2069", "\\u2066a\\u2067b\\u2068c\\u2069"],
    ["T2: bidi marks", "\u200e\u200f\u061c", "\\u200e\\u200f\\u061c"],
    ["T2: zero-width characters", "a\u200bb\u200cc\u200dd\u2060e\ufeff", "a\\u200bb\\u200cc\\u200dd\\u2060e\\ufeff"],
    ["soft hyphen, Mongolian vowel separator", "a\u00adb\u180e", "a\\u00adb\\u180e"],
    ["line and paragraph separators", "a\u2028b\u2029", "a\\u2028b\\u2029"],
    ["no-break space looks like a space", "a\u00a0b", "a\\u00a0b"],
    ["tag characters (invisible) outside the BMP", "x\u{E0041}", "x\\u{e0041}"],
    ["lone surrogates", "a\ud800b\udfff", "a\\ud800b\\udfff"],
    ["a backslash is doubled so escapes are unambiguous", "C:\\x1b", "C:\\\\x1b"],
    ["visible non-ASCII stays readable", "Zürich → café 日本", "Zürich → café 日本"],
    ["a real surrogate pair (emoji) stays", "ok 👍", "ok 👍"],
  ])("%s", (_name, input, expected) => {
    expect(escapeForTerminal(input)).toBe(expected);
  });

  it("the output never contains a control, bidi or invisible character (property)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (s) => {
        expect(escapeForTerminal(s)).not.toMatch(DANGEROUS);
      }),
    );
  });

  it("is injective: different inputs never render the same (property)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), fc.string({ unit: "binary" }), (a, b) => {
        if (a !== b) expect(escapeForTerminal(a)).not.toBe(escapeForTerminal(b));
      }),
    );
    expect(escapeForTerminal("\\n")).not.toBe(escapeForTerminal("\n"));
  });
});

describe("suspiciousChars", () => {
  it.each([
    ["clean", "drop table users", []],
    ["T1: ESC control", "\x1b[2J", ["U+001B ESCAPE"]],
    ["T1: CR control", "a\rb", ["U+000D CARRIAGE RETURN"]],
    ["T2: RIGHT-TO-LEFT OVERRIDE", "x\u202ey", ["U+202E RIGHT-TO-LEFT OVERRIDE"]],
    ["T2: zero width space named once", "a\u200bb\u200bc", ["U+200B ZERO WIDTH SPACE"]],
    ["C1 control", "\u009b", ["U+009B CONTROL SEQUENCE INTRODUCER"]],
    ["DEL", "\x7f", ["U+007F DELETE"]],
    ["order of first appearance", "\u2066\n\u2066\x1b", ["U+2066 LEFT-TO-RIGHT ISOLATE", "U+000A LINE FEED", "U+001B ESCAPE"]],
    ["lone surrogate", "\udc00", ["U+DC00 lone surrogate"]],
    ["a backslash is not suspicious", "a\\b", []],
  ])("%s", (_name, input, expected) => {
    expect(suspiciousChars(input)).toEqual(expected);
  });
});

describe("asciiIdentifier and describePrincipal", () => {
  it.each([
    ["plain ASCII", "alice", "alice"],
    ["T3: Cyrillic а look-alike is escaped", "\u0430lice", "\\u0430lice"],
    ["T3: fullwidth letters are escaped", "ａlice", "\\uff41lice"],
    ["space and controls", "al ice\x1b", "al\\x20ice\\x1b"],
    ["empty", "", '""'],
  ])("%s", (_name, input, expected) => {
    expect(asciiIdentifier(input)).toBe(expected);
  });

  it("T3: aIice (capital I) is legal ASCII, so the display carries the key fingerprint that tells it apart", () => {
    const real = describePrincipal("alice", "SHA256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    const fake = describePrincipal("aIice", "SHA256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
    expect(fake).toContain("aIice");
    expect(fake).toContain("SHA256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
    expect(real).toContain("SHA256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    expect(describePrincipal(null, "SHA256:x")).toContain("unregistered");
  });

  it("the output is printable ASCII only (property)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (s) => {
        expect(asciiIdentifier(s)).toMatch(/^[\x21-\x7e]+$/);
      }),
    );
  });
});

describe("quoteArgv", () => {
  it.each([
    ["safe words stay bare", ["psql", "-h", "db1", "--port=5432"], "psql -h db1 --port=5432"],
    ["C7: one argument with a space", ["a b"], "'a b'"],
    ["C7: two arguments", ["a", "b"], "a b"],
    ["empty argument is visible", ["x", ""], "x ''"],
    ["single quote", ["it's"], "'it'\\''s'"],
    ["C7: newline inside an argument is visible", ["a\nb"], "$'a\\nb'"],
    ["C7: trailing backslash (Baron Samedit input)", ["foo\\"], "$'foo\\\\'"],
    ["C7: -- in args stays an argument", ["--", "-rf"], "-- -rf"],
    ["C8: shell metacharacters are quoted", ["$(rm -rf /)", ";", "*"], "'$(rm -rf /)' ';' '*'"],
    ["T1: ESC in an argument", ["\x1b[2J"], "$'\\x1b[2J'"],
    ["T2: bidi override in an argument", ["a\u202eb'"], "$'a\\u202eb\\''"],
    ["no-break space is not a separator", ["a\u00a0b"], "$'a\\u00a0b'"],
  ])("%s", (_name, argv, expected) => {
    expect(quoteArgv(argv)).toBe(expected);
  });

  it("C7: argv that differ always display differently (property)", () => {
    const arg = fc.string({ unit: fc.constantFrom("a", " ", "'", "\\", "\n", "$", "\u202e", "b") });
    fc.assert(
      fc.property(fc.array(arg, { maxLength: 4 }), fc.array(arg, { maxLength: 4 }), (a, b) => {
        if (JSON.stringify(a) !== JSON.stringify(b)) expect(quoteArgv(a)).not.toBe(quoteArgv(b));
      }),
    );
  });
});

describe("escapeStrayControls: the net where guard writes", () => {
  it.each([
    ["plain text is unchanged", "request r-1 ✔ → ok", "request r-1 ✔ → ok"],
    ["guard's own colours and line layout stay", "\x1b[31m\x1b[1mDENY\x1b[22m\x1b[39m\n\tx", "\x1b[31m\x1b[1mDENY\x1b[22m\x1b[39m\n\tx"],
    ["guard's progress erase stays", "\r\x1b[2Kwaiting", "\r\x1b[2Kwaiting"],
    ["T1: a screen clear is escaped", "a\x1b[2J\x1b[Hb", "a\\x1b[2J\\x1b[Hb"],
    ["T1: an OSC 8 hyperlink is escaped", "\x1b]8;;https://evil\x07x", "\\x1b]8;;https://evil\\x07x"],
    ["T1: a lone CR (overwriting the line) is escaped", "ok\rfake", "ok\\rfake"],
    ["T1: C1 CSI", "\u009b2J", "\\u009b2J"],
    ["T2: bidi override and isolate", "a\u202eb\u2066c", "a\\u202eb\\u2066c"],
    ["zero-width, BOM, line separator, tag", "a\u200b\ufeff\u2028\u{E0041}", "a\\u200b\\ufeff\\u2028\\u{e0041}"],
    ["backslashes are left alone (already-escaped text passes unchanged)", "\\x1b \\\\", "\\x1b \\\\"],
  ])("%s", (_name, input, expected) => {
    expect(escapeStrayControls(input)).toBe(expected);
  });

  it("whatever the input, only LF, TAB and guard's own sequences survive raw (property)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (s) => {
        const out = escapeStrayControls(s).replace(/\x1b\[(?:1|2|22|3[1-79]|41|49)m|\r?\x1b\[2K/g, "");
        expect(out).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/);
      }),
    );
  });
});

describe("safeJson: JSON for machines that is inert on a terminal and in a CI log", () => {
  it.each([
    ["C1, bidi, zero-width, BOM, DEL and tags become \\u escapes", { s: "\u009b\u202e\u200b\ufeff\x7f\u{E0041}" }, '{"s":"\\u009b\\u202e\\u200b\\ufeff\\u007f\\udb40\\udc41"}'],
    ["C0 as JSON.stringify writes it", { s: "\x1b[2J\n" }, '{"s":"\\u001b[2J\\n"}'],
    ["##[ anywhere", { s: "x ##[error]y" }, '{"s":"x #\\u0023[error]y"}'],
    ["visible non-ASCII stays", { s: "Zürich → 日本 👍" }, '{"s":"Zürich → 日本 👍"}'],
  ])("%s", (_name, value, expected) => {
    expect(safeJson(value)).toBe(expected);
    expect(JSON.parse(safeJson(value))).toEqual(value);
  });

  it("is the same JSON value, with no raw hidden character (property)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (s) => {
        const text = safeJson({ s }, 2);
        expect(JSON.parse(text)).toEqual({ s });
        expect(text).not.toMatch(/[\x7f-\x9f\u00ad\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/);
        expect(text).not.toContain("##[");
      }),
    );
  });
});
