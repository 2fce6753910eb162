import { describe, expect, it } from "vitest";
import { describeChar, editDistance, normaliseEnvName, quoteValue, skeleton } from "../../src/core/names.js";
import { fixturePolicy } from "./policy-fixture.js";

const policy = fixturePolicy();

describe("normaliseEnvName: names and aliases (E4)", () => {
  it.each([
    ["production", "production"],
    ["PRODUCTION", "production"],
    ["Prod", "production"],
    ["prd", "production"],
    ["live", "production"],
    ["LIVE", "production"],
    ["stg", "staging"],
    ["staging", "staging"],
    ["dev", "development"],
  ])("E4: %j resolves to %s", (raw, name) => {
    expect(normaliseEnvName(policy, raw)).toEqual({ ok: true, name });
  });
});

describe("normaliseEnvName: refusals (E2)", () => {
  it("E2: Cyrillic о looks like prod and is refused with its code point", () => {
    const r = normaliseEnvName(policy, "pr\u043Ed");
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toContain("looks like `prod` but contains U+043E CYRILLIC SMALL LETTER O");
    expect(r.reason).toContain('"pr\\u{43E}d"');
    expect(r.suggestion).toBe("production");
  });

  it("E2: fullwidth ｐｒｏｄ is refused and named", () => {
    const r = normaliseEnvName(policy, "\uFF50\uFF52\uFF4F\uFF44");
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toContain("looks like `prod`");
    expect(r.reason).toContain("U+FF50 FULLWIDTH LATIN SMALL LETTER P");
  });

  it("E2: a zero-width space inside a name is refused", () => {
    const r = normaliseEnvName(policy, "pro\u200Bd");
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toContain("U+200B ZERO WIDTH SPACE");
    expect(r.reason).toContain("looks like `prod`");
  });

  it.each([
    [" prod", "U+0020 SPACE"],
    ["prod\n", "U+000A LINE FEED"],
    ["prod\t", "U+0009 CHARACTER TABULATION"],
    ["prod\u001b[2J", "U+001B ESCAPE"],
    ["\u212Aube", "U+212A KELVIN SIGN"],
    ["prod_eu", "U+005F `_`"],
    ["prod.eu", "U+002E `.`"],
  ])("E2: %j is refused naming %s", (raw, named) => {
    const r = normaliseEnvName(policy, raw);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain(named);
  });

  it("E2: the empty name is refused", () => {
    expect(normaliseEnvName(policy, "")).toMatchObject({ ok: false, reason: expect.stringContaining("empty") });
  });

  it.each([
    ["prodution", "production"],
    ["stagin", "staging"],
    ["prod-eu", "production"],
    ["develop", "development"],
  ])("unknown %j is refused with did-you-mean %s", (raw, suggestion) => {
    const r = normaliseEnvName(policy, raw);
    expect(r).toMatchObject({ ok: false, suggestion });
    if (!r.ok) expect(r.reason).toContain(`did you mean \`${suggestion}\``);
  });

  it("an unknown name far from every name gets no suggestion but lists the known ones", () => {
    const r = normaliseEnvName(policy, "qa");
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.suggestion).toBeUndefined();
    expect(r.reason).toContain("known: production, staging, development");
  });
});

describe("skeleton, describeChar, quoteValue", () => {
  it.each([
    ["pr\u043Ed", "prod"],
    ["\uFF50\uFF52\uFF4F\uFF44", "prod"],
    ["\u0440r\u043Ed", "prod"],
    ["pro\u200Bd", "prod"],
    ["st\u0430ging", "staging"],
    ["prod", "prod"],
  ])("skeleton(%j) = %s", (s, skel) => {
    expect(skeleton(s)).toBe(skel);
  });

  it.each([
    ["\u043E", "U+043E CYRILLIC SMALL LETTER O"],
    ["\uFF30", "U+FF30 FULLWIDTH LATIN CAPITAL LETTER P"],
    ["\u202E", "U+202E RIGHT-TO-LEFT OVERRIDE"],
    ["\u0085", "U+0085 NEXT LINE"],
    ["\u00E9", "U+00E9"],
    ["\u{1F600}", "U+1F600"],
  ])("describeChar(%j) = %s", (c, d) => {
    expect(describeChar(c)).toBe(d);
  });

  it("quoteValue escapes everything outside printable ASCII", () => {
    expect(quoteValue('a"b\\c\n\r\t\u001b\u043E')).toBe('"a\\"b\\\\c\\n\\r\\t\\u{1B}\\u{43E}"');
  });

  it("editDistance", () => {
    expect(editDistance("kitten", "sitting")).toBe(3);
    expect(editDistance("", "abc")).toBe(3);
    expect(editDistance("prod", "prod")).toBe(0);
  });
});
