import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { REQUEST_ID_RE } from "../../src/adapters/store/types.js";
import { GuardError } from "../../src/core/errors.js";
import { REQUEST_ID_PATTERN, isRequestId, newNonce, newRequestId } from "../../src/core/ids.js";

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);

describe("newRequestId", () => {
  it.each([
    ["all zero bits", new Uint8Array(13), "r-aaaaaaaaaaaaaaaaaaaa"],
    ["all one bits", new Uint8Array(13).fill(0xff), "r-77777777777777777777"],
    // RFC 4648 test vector: BASE32("foobar") = "MZXW6YTBOI======" (padding bits are zero).
    ["RFC 4648 vector", bytes(...Buffer.from("foobar"), 0, 0, 0, 0, 0, 0, 0), "r-mzxw6ytboiaaaaaaaaaa"],
  ])("%s", (_name, random, expected) => {
    expect(newRequestId(random)).toBe(expected);
  });

  it("uses only the first 13 bytes, whatever else is passed", () => {
    const a = new Uint8Array(32).fill(7);
    const b = Uint8Array.from(a);
    b[20] = 99;
    expect(newRequestId(a)).toBe(newRequestId(b));
  });

  it("refuses fewer than 13 random bytes instead of making a short, guessable id", () => {
    expect(() => newRequestId(new Uint8Array(12))).toThrow(GuardError);
  });

  it("is the store's id shape, and the core pattern equals REQUEST_ID_RE", () => {
    expect(REQUEST_ID_PATTERN.source).toBe(REQUEST_ID_RE.source);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 13, maxLength: 40 }), (random) => {
        const id = newRequestId(random);
        expect(id).toMatch(REQUEST_ID_RE);
        expect(isRequestId(id)).toBe(true);
      }),
    );
  });

  it("different first 100 bits give different ids (injective)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 13, maxLength: 13 }), fc.uint8Array({ minLength: 13, maxLength: 13 }), (a, b) => {
        // The last 4 bits of byte 13 are not used; compare the 100 bits that are.
        const top = (x: Uint8Array): string => Buffer.from(x.subarray(0, 12)).toString("hex") + (x[12]! >> 4).toString(16);
        expect(newRequestId(a) === newRequestId(b)).toBe(top(a) === top(b));
      }),
    );
  });
});

describe("isRequestId", () => {
  it.each([
    ["S5: path traversal", "../../policy"],
    ["S5: slash", "r-aaaaaaaaaa/aaaaaaaaa"],
    ["S5: NUL", "r-aaaaaaaaaaaaaaaaaaa\0"],
    ["uppercase", "r-AAAAAAAAAAAAAAAAAAAA"],
    ["digits outside base32", "r-aaaaaaaaaaaaaaaaaaa1"],
    ["too short", "r-aaaa"],
    ["too long", "r-aaaaaaaaaaaaaaaaaaaaa"],
    ["no prefix", "aaaaaaaaaaaaaaaaaaaaaa"],
    ["trailing newline", "r-aaaaaaaaaaaaaaaaaaaa\n"],
    ["empty", ""],
  ])("%s is not an id", (_name, s) => {
    expect(isRequestId(s)).toBe(false);
  });

  it("rejects non-strings", () => {
    expect(isRequestId(42)).toBe(false);
    expect(isRequestId(null)).toBe(false);
  });
});

describe("newNonce", () => {
  it("is the lowercase hex of every byte given", () => {
    expect(newNonce(bytes(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 255))).toBe("000102030405060708090a0b0c0d0eff");
  });

  it("refuses fewer than 16 bytes", () => {
    expect(() => newNonce(new Uint8Array(15))).toThrow(GuardError);
  });
});
