import { describe, expect, it } from "vitest";
import { compileGlob, isLiteralGlob } from "../../src/core/glob.js";

const PATH = { caseInsensitive: false, slashSensitive: true };
const ARG = { caseInsensitive: false, slashSensitive: false };
const VALUE = { caseInsensitive: true, slashSensitive: false };

type Row = [pattern: string, subject: string, expected: boolean];

describe("compileGlob, slash-sensitive (program paths)", () => {
  const rows: Row[] = [
    ["scripts/purge-*.sh", "scripts/purge-lb.sh", true],
    ["scripts/purge-*.sh", "scripts/purge-.sh", true],
    ["scripts/purge-*.sh", "scripts/sub/purge-lb.sh", false],
    ["scripts/purge-*.sh", "scripts/purge-a/b.sh", false],
    ["scripts/purge-*.sh", "other/scripts/purge-lb.sh", false],
    ["scripts/purge-*.sh", "Scripts/purge-lb.sh", false],
    ["scripts/*", "scripts/.hidden.sh", true],
    ["scripts/**/purge.sh", "scripts/purge.sh", true],
    ["scripts/**/purge.sh", "scripts/a/b/purge.sh", true],
    ["scripts/**", "scripts/a/b/c", true],
    ["scripts/?.sh", "scripts/a.sh", true],
    ["scripts/?.sh", "scripts/ab.sh", false],
    ["scripts/[ab].sh", "scripts/a.sh", true],
    ["scripts/[ab].sh", "scripts/c.sh", false],
    ["scripts/[ab].sh", "scripts/[ab].sh", false],
    ["scripts/[!ab].sh", "scripts/c.sh", true],
    ["scripts/[!ab].sh", "scripts/a.sh", false],
    ["scripts/[^ab].sh", "scripts/c.sh", true],
    ["a/[!x]b", "a//b", false],
    ["a/*", "a/b/", false],
    ["terraform", "terraform", true],
    ["terraform", "terraform-1.9", false],
    ["terraform*", "terraform-1.9", true],
    ["*", "x\ny", true],
    ["**", "x\ny/z", true],
    // Characters picomatch would treat as syntax are literal here.
    ["scripts/{a,b}.sh", "scripts/a.sh", false],
    ["scripts/{a,b}.sh", "scripts/{a,b}.sh", true],
    ["scripts/(a|b).sh", "scripts/a.sh", false],
    ["scripts/(a|b).sh", "scripts/(a|b).sh", true],
    ["!scripts/a.sh", "scripts/b.sh", false],
    ["!scripts/a.sh", "!scripts/a.sh", true],
    ["scripts/+(a).sh", "scripts/a.sh", false],
    ["scripts/@(a).sh", "scripts/a.sh", false],
    ["scripts/!(a).sh", "scripts/b.sh", false],
    ["scripts/a+.sh", "scripts/aa.sh", false],
    ["./scripts/a.sh", "scripts/a.sh", false],
    ["scripts/$(x).sh", "scripts/x.sh", false],
    ["scripts/$(x).sh", "scripts/$(x).sh", true],
    ["scripts/a\\*.sh", "scripts/a*.sh", true],
    ["scripts/a\\*.sh", "scripts/ab.sh", false],
    ["scripts/[[]x.sh", "scripts/[x.sh", true],
    ["scripts/[x.sh", "scripts/[x.sh", true],
    // `**` as whole segments, anywhere; inside a segment it is `*`.
    ["**/purge.sh", "purge.sh", true],
    ["**/purge.sh", "a/b/purge.sh", true],
    ["**/purge.sh", "a/b/xpurge.sh", false],
    ["scripts/**", "scripts", true],
    ["scripts/**", "scriptsX", false],
    ["scripts/**/x/**/y.sh", "scripts/x/y.sh", true],
    ["scripts/**/x/**/y.sh", "scripts/a/x/b/c/y.sh", true],
    ["scripts/**/x/**/y.sh", "scripts/a/xb/y.sh", false],
    ["scripts/a**b", "scripts/aXYb", true],
    ["scripts/a**b", "scripts/a/b", false],
    ["scripts/[a-c].sh", "scripts/b.sh", true],
    ["scripts/[!a].sh", "scripts//.sh", false],
    ["scripts/?.sh", "scripts//.sh", false],
  ];
  it.each(rows)("%j vs %j → %s", (pattern, subject, expected) => {
    expect(compileGlob(pattern, PATH)(subject)).toBe(expected);
  });
});

describe("compileGlob, slash-insensitive (values and arguments)", () => {
  const rows: Array<[string, string, boolean, typeof ARG]> = [
    ["*prod-db.*", "postgres://app@prod-db.internal/elb", true, VALUE],
    ["*prod-db.*", "postgres://app@PROD-DB.internal/elb", true, VALUE],
    ["*prod-db.*", "postgres://app@prod-db.internal/../x", true, VALUE],
    ["*prod-db.*", "postgres://app@staging-db.internal/elb", false, VALUE],
    ["--path=*", "--path=../../etc/passwd", true, ARG],
    ["--path=*", "--path=/a/./b", true, ARG],
    ["--file=*", "--file=x\ny", true, ARG],
    ["--all", "--all", true, ARG],
    ["--all", "--ALL", false, ARG],
    ["--all", "--ALL", true, VALUE],
    ["--all", "--all-the-things", false, ARG],
    ["--all", "x --all", false, ARG],
    ["?", "/", true, ARG],
    ["[!a]", "/", true, ARG],
    ["prod-*", "prod-", true, VALUE],
    // C8: shell syntax in a pattern or a subject is plain text.
    ["*", "$(rm -rf /)", true, ARG],
    ["$(whoami)", "root", false, ARG],
    ["$(whoami)", "$(whoami)", true, ARG],
    ["a;b", "a;b", true, ARG],
    ["a;b", "a", false, ARG],
    ["(a|b)", "a", false, ARG],
    ["{a,b}", "b", false, ARG],
    ["a.b", "axb", false, ARG],
    ["a^b", "a^b", true, ARG],
    ["\\", "\\", true, ARG],
    // Only JavaScript's non-Unicode case folding: the Kelvin sign is not `k`, long s is not `s`.
    ["k*", "\u212Aube", false, VALUE],
    ["s*", "\u017Ftaging", false, VALUE],
    ["[a-c]x", "Bx", true, VALUE],
    ["[a-c]x", "Bx", false, ARG],
  ];
  it.each(rows)("%j vs %j → %s", (pattern, subject, expected, opts) => {
    expect(compileGlob(pattern, opts)(subject)).toBe(expected);
  });
});

describe("compileGlob errors and cache", () => {
  it("refuses an empty pattern", () => {
    expect(() => compileGlob("", PATH)).toThrow(/empty glob/);
  });
  it("refuses a reversed range", () => {
    expect(() => compileGlob("[z-a]", ARG)).toThrow(/out of order/);
  });
  it("returns the cached matcher for the same pattern and options", () => {
    expect(compileGlob("cache-*", ARG)).toBe(compileGlob("cache-*", ARG));
    expect(compileGlob("cache-*", ARG)).not.toBe(compileGlob("cache-*", VALUE));
  });
  it("compiles 1,000 distinct patterns and keeps each one distinct", () => {
    const matchers = Array.from({ length: 1000 }, (_, i) => compileGlob(`job-${i}-*`, ARG));
    expect(matchers.filter((m) => m("job-500-x"))).toHaveLength(1);
  });
});

describe("isLiteralGlob", () => {
  it.each([
    ["sudo", true],
    ["scripts/a.sh", true],
    ["a\\*", true],
    ["{a,b}", true],
    ["s*", false],
    ["s?", false],
    ["[s]", false],
  ] as const)("%j → %s", (pattern, expected) => {
    expect(isLiteralGlob(pattern)).toBe(expected);
  });
});
