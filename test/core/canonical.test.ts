/**
 * canonicalJson is what every digest and signature in guard is computed over (requests, approvals,
 * audit events), so its output must never change: the form of values already stored must come out the
 * same, byte for byte. The oracle is the form as first written (map, filter, join), kept here verbatim;
 * the fixed examples pin the rules themselves (keys by UTF-16 code unit, integer-like keys included).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../src/core/canonical.js";

/** The first implementation, verbatim but for its depth limit. */
function reference(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isFinite(value)) throw new TypeError("non-finite");
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? "null" : reference(v))).join(",")}]`;
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${reference(obj[k])}`).join(",")}}`;
    }
    default:
      throw new TypeError(typeof value);
  }
}

describe("canonicalJson", () => {
  it("sorts keys by UTF-16 code unit at every level, integer-like keys too, with no whitespace", () => {
    const value = JSON.parse('{"b":1,"a":[1,{"d":null,"c":"x"}],"10":true,"9":false,"é":0,"Z":-0,"":[]}') as unknown;
    expect(canonicalJson(value)).toBe('{"":[],"10":true,"9":false,"Z":0,"a":[1,{"c":"x","d":null}],"b":1,"é":0}');
  });

  it("drops undefined members, writes undefined array items as null, refuses what JSON cannot say", () => {
    expect(canonicalJson({ b: undefined, a: [undefined, 1] })).toBe('{"a":[null,1]}');
    expect(canonicalJson({ only: undefined })).toBe("{}");
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(TypeError);
    expect(() => canonicalJson([Infinity])).toThrow(TypeError);
    expect(() => canonicalJson({ f: () => 1 })).toThrow(TypeError);
    let deep: unknown = 1;
    for (let i = 0; i < 1001; i++) deep = [deep];
    expect(() => canonicalJson(deep)).toThrow(/nested more than 1000 levels/);
  });

  it("is the first implementation's form, byte for byte, for any JSON value", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(canonicalJson(v)).toBe(reference(v));
        // and it is JSON that means the same value
        expect(JSON.parse(canonicalJson(v))).toStrictEqual(JSON.parse(JSON.stringify(v)));
      }),
      { numRuns: 500 },
    );
  });

  it("is the same for objects with undefined members, getters read once", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.option(fc.jsonValue(), { nil: undefined })), (v) => {
        expect(canonicalJson(v)).toBe(reference(v));
      }),
      { numRuns: 300 },
    );
    let reads = 0;
    const o = {
      get a() {
        reads++;
        return 1;
      },
    };
    expect(canonicalJson(o)).toBe('{"a":1}');
    expect(reads).toBe(1);
  });
});
