import fc from "fast-check";
import { Chalk } from "chalk";
import { describe, expect, it } from "vitest";
import { colourWanted, styles, type StyleName } from "../src/adapters/style.js";

/**
 * guard's terminal styles (src/adapters/style.ts) replace chalk on the start-up path. They must colour
 * exactly as chalk does for the styles guard uses: chalk (a development dependency now) is the oracle.
 */

const NAMES: StyleName[] = ["bold", "dim", "red", "green", "yellow", "blue", "cyan", "white", "bgRed"];
const chalk = new Chalk({ level: 1 });

function chain<T>(root: T, names: readonly StyleName[]): T {
  let s = root as unknown as Record<string, unknown>;
  for (const n of names) s = s[n] as Record<string, unknown>;
  return s as unknown as T;
}

describe("styles", () => {
  it.each([
    [["red"], "guard:", "\u001b[31mguard:\u001b[39m"],
    [["red", "bold"], "guard:", "\u001b[31m\u001b[1mguard:\u001b[22m\u001b[39m"],
    [["bgRed", "white", "bold"], " PRODUCTION ", "\u001b[41m\u001b[37m\u001b[1m PRODUCTION \u001b[22m\u001b[39m\u001b[49m"],
    [["dim"], "a\nb", "\u001b[2ma\u001b[22m\n\u001b[2mb\u001b[22m"],
    [["yellow"], "", ""],
  ] as Array<[StyleName[], string, string]>)("%j on %j", (names, text, expected) => {
    expect(chain(styles(true), names)(text)).toBe(expected);
    expect(chain(chalk, names)(text)).toBe(expected);
  });

  it("disabled, they leave the text exactly as it is", () => {
    const s = styles(false);
    expect(s.red.bold("a\nb\u001b[22m")).toBe("a\nb\u001b[22m");
    expect(s(42)).toBe("42");
  });

  it("agree with chalk on generated chains and texts, nested styles and line breaks included", () => {
    const names = fc.array(fc.constantFrom(...NAMES), { minLength: 1, maxLength: 4 });
    const piece = fc.oneof(
      fc.string({ maxLength: 8 }),
      fc.constantFrom("\n", "\r\n", "\u001b[22m", "\u001b[39m", "\u001b[49m", "é ☃"),
      fc.tuple(names, fc.string({ maxLength: 5 })).map(([n, t]) => chain(chalk, n)(t)),
    );
    const text = fc.array(piece, { maxLength: 5 }).map((p) => p.join(""));
    fc.assert(
      fc.property(names, text, (n, t) => {
        expect(chain(styles(true), n)(t)).toBe(chain(chalk, n)(t));
      }),
      { numRuns: 2000 },
    );
  });
});

describe("colourWanted", () => {
  it.each([
    [{}, true, true],
    [{}, false, false],
    [{ TERM: "dumb" }, true, false],
    [{ NO_COLOR: "1" }, true, false],
    [{ NO_COLOR: "" }, true, true],
    [{ NO_COLOR: "1", FORCE_COLOR: "1" }, false, false],
    [{ FORCE_COLOR: "1" }, false, true],
    [{ FORCE_COLOR: "" }, false, true],
    [{ FORCE_COLOR: "0" }, true, false],
    [{ FORCE_COLOR: "false" }, true, false],
  ] as Array<[Record<string, string>, boolean, boolean]>)("%j, terminal %s → %s", (env, tty, want) => {
    expect(colourWanted(env, tty)).toBe(want);
  });
});
