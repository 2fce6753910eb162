import { describe, expect, it } from "vitest";
import { randomBytes } from "../../src/adapters/random.js";

describe("randomBytes (from /dev/urandom)", () => {
  it("gives exactly the bytes asked for, different every time", () => {
    const seen = new Set<string>();
    for (const n of [1, 12, 16, 64, 4096]) {
      const b = randomBytes(n);
      expect(b.length).toBe(n);
      seen.add(b.toString("hex"));
    }
    expect(seen.size).toBe(5);
    const many = new Set(Array.from({ length: 200 }, () => randomBytes(16).toString("hex")));
    expect(many.size).toBe(200);
  });

  it("is not constant across the bytes of one draw (a stuck source would be)", () => {
    const b = randomBytes(4096);
    const counts = new Array<number>(256).fill(0);
    for (const x of b) counts[x]!++;
    // 4096 uniform bytes: every value appears, none more than ~50 times.
    expect(counts.filter((c) => c === 0).length).toBeLessThan(5);
    expect(Math.max(...counts)).toBeLessThan(60);
  });
});
