import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { sha256HexWasm } from "../../src/core/sha256.js";
import { SHA256_WASM_BASE64 } from "../../src/core/sha256-wasm.js";
import { assembleSha256 } from "../../scripts/gen-sha256-wasm.mjs";
import { sha256Hex } from "../../src/core/canonical.js";

/**
 * The WebAssembly SHA-256 (src/core/sha256.ts) hashes the policy files and audit events of every allowed
 * run. It must be SHA-256 exactly: FIPS 180-4's examples, node:crypto (OpenSSL) on every length around
 * the block boundaries and on large inputs, and the embedded module must be sha256.wat assembled.
 */

const native = (b: string | Uint8Array): string => createHash("sha256").update(b).digest("hex");

describe("SHA-256 in WebAssembly", () => {
  it.each([
    ["", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
    ["abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
    ["abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"],
    [
      "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
      "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
    ],
  ])("FIPS 180-4 example %j", (text, digest) => {
    expect(sha256HexWasm(text)).toBe(digest);
  });

  it("a million 'a's (the long FIPS example), which takes several chunks of the module's memory", () => {
    expect(sha256HexWasm(Buffer.alloc(1_000_000, "a"))).toBe("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  });

  it("agrees with node:crypto on every length from 0 to 1,100 bytes, and around the chunk boundary", () => {
    for (let n = 0; n <= 1100; n++) {
      const b = randomBytes(n);
      expect(sha256HexWasm(b), `length ${n}`).toBe(native(b));
    }
    for (const n of [63_999, 64_000, 64_001, 64_055, 64_056, 64_063, 64_064, 128_000, 200_003]) {
      const b = randomBytes(n);
      expect(sha256HexWasm(b), `length ${n}`).toBe(native(b));
    }
  });

  it("agrees with node:crypto on generated text (hashed as UTF-8) and bytes", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: "grapheme", maxLength: 300 }), fc.uint8Array({ maxLength: 3000 })), (x) => {
        expect(sha256HexWasm(x)).toBe(native(x));
      }),
      { numRuns: 1000 },
    );
  });

  it("sha256Hex answers the same whichever way it hashes (WebAssembly for small inputs, node:crypto beyond)", () => {
    for (const n of [0, 10, 5000, 9000, 40_000]) {
      const b = randomBytes(n);
      expect(sha256Hex(b)).toBe(native(b));
    }
  });

  it("the embedded module is src/core/sha256.wat assembled (npm run gen:sha256)", async () => {
    const assembled = await assembleSha256(join(process.cwd(), "src", "core", "sha256.wat"));
    expect(Buffer.from(SHA256_WASM_BASE64, "base64").equals(assembled)).toBe(true);
    // The round constants in the .wat are FIPS 180-4's: the fractional parts of the cube roots of the
    // first 64 primes.
    const wat = readFileSync(join(process.cwd(), "src", "core", "sha256.wat"), "utf8");
    const hex = /\(data \(i32\.const 256\) "([^"]+)"\)/.exec(wat)![1]!.split("\\").filter(Boolean);
    const k = Buffer.from(hex.join(""), "hex");
    const primes: number[] = [];
    for (let p = 2; primes.length < 64; p++) if (primes.every((q) => p % q !== 0)) primes.push(p);
    primes.forEach((p, i) => {
      const frac = Math.cbrt(p) - Math.floor(Math.cbrt(p));
      expect(k.readUInt32LE(i * 4), `K[${i}]`).toBe(Math.floor(frac * 2 ** 32) >>> 0);
    });
  });
});
