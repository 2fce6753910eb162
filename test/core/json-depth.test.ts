import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { jsonTooDeep, MAX_JSON_DEPTH, tooDeepByCharacters } from "../../src/core/json-depth.js";

/**
 * jsonTooDeep bounds the nesting of stored JSON before it is parsed (SECURITY H1). Text with no more
 * opening brackets than the bound is answered by counting them; otherwise it drops strings with a regular
 * expression up to 1 MiB of text and walks characters beyond. All must give the same answer as the walk
 * on any text, and the true answer on JSON.
 */

/** The nesting depth of a parsed value: the oracle for valid JSON. */
function depthOf(v: unknown): number {
  if (Array.isArray(v)) return 1 + Math.max(0, ...v.map(depthOf));
  if (v !== null && typeof v === "object") return 1 + Math.max(0, ...Object.values(v).map(depthOf));
  return 0;
}

const nest = (n: number, inner = "1"): string => "[".repeat(n) + inner + "]".repeat(n);

describe("jsonTooDeep", () => {
  it.each([
    ["a flat record", '{"a":"b","c":[1,2,3]}', false],
    [`${MAX_JSON_DEPTH} levels`, nest(MAX_JSON_DEPTH), false],
    [`${MAX_JSON_DEPTH + 1} levels`, nest(MAX_JSON_DEPTH + 1), true],
    ["objects and arrays mixed", `${'{"a":['.repeat(33)}1${"]}".repeat(33)}`, true],
    ["brackets inside a string do not count", `{"a":"${"[".repeat(500)}"}`, false],
    ["as many openings as the bound, in strings and out: answered by counting", `{"a":"${"{".repeat(MAX_JSON_DEPTH - 2)}","b":[1]}`, false],
    ["one opening more than the bound, in a string: shallow all the same", `{"a":"${"{".repeat(MAX_JSON_DEPTH)}"}`, false],
    ["an escaped quote does not end the string", `{"a":"\\"${"[".repeat(500)}"}`, false],
    ["an escaped backslash before the closing quote ends it", `{"a":"\\\\"${",[".repeat(100)}`, true],
    ["an unterminated string: the rest is inside it", `"open ${nest(100)}`, false],
    ["a string of 1 MiB of escapes, under the bound", `["${'\\"'.repeat((1 << 19) - 3)}"]`, false],
    ["200,000 levels", nest(200_000), true],
    ["a 10 MB line of escapes, walked (the expression would overflow)", `[${nest(70, `"${'\\"'.repeat(5_000_000)}"`)}]`, true],
    ["a 10 MB line of escapes, shallow", `["${'\\"'.repeat(5_000_000)}"]`, false],
  ])("%s", (_name, text, want) => {
    expect(jsonTooDeep(text)).toBe(want);
    expect(tooDeepByCharacters(text, MAX_JSON_DEPTH)).toBe(want);
  });

  it("any text: the expression and the walk agree, at any bound", () => {
    const text = fc.string({ unit: fc.constantFrom("[", "]", "{", "}", '"', "\\", "a", ",", ":"), maxLength: 200 });
    fc.assert(
      fc.property(text, fc.integer({ min: 0, max: 8 }), (t, max) => {
        expect(jsonTooDeep(t, max)).toBe(tooDeepByCharacters(t, max));
      }),
      { numRuns: 3000 },
    );
  });

  it("any JSON value: too deep exactly when its parsed depth exceeds the bound", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 0, max: 8 }), (v, max) => {
        const text = JSON.stringify(v);
        expect(jsonTooDeep(text, max)).toBe(depthOf(JSON.parse(text)) > max);
      }),
      { numRuns: 2000 },
    );
  });
});
