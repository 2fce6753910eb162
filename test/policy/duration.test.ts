import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { formatDuration, parseDuration } from "../../src/core/duration.js";

describe("parseDuration", () => {
  const good: Array<[string, number]> = [
    ["90s", 90],
    ["30m", 1800],
    ["1h", 3600],
    ["7d", 604_800],
    ["1h30m", 5400],
    ["2d12h", 216_000],
    ["1d2h3m4s", 93_784],
    ["0s", 0],
    ["0m", 0],
  ];
  for (const [text, seconds] of good) it(`${JSON.stringify(text)} is ${seconds}s`, () => expect(parseDuration(text)).toBe(seconds));

  const bad = ["", "90", "1.5h", "1,5h", "-1h", "+1h", "30M", "1H", "1h 30m", " 1h", "1h ", "30m1h", "1h1h", "01h", "0600", "1w", "1y", "ms", "h", "1hm", "∞", "1e3s", "0x10s", "１h", "1234567890s"];
  for (const text of bad) it(`${JSON.stringify(text)} is refused`, () => expect(parseDuration(text)).toBeNull());
});

describe("formatDuration", () => {
  const table: Array<[number, string]> = [
    [0, "0s"],
    [45, "45s"],
    [90, "1m30s"],
    [1800, "30m"],
    [3600, "1h"],
    [5400, "1h30m"],
    [604_800, "7d"],
    [93_784, "1d2h3m4s"],
    [59.9, "59s"],
    [-90, "-1m30s"],
  ];
  for (const [seconds, text] of table) it(`${seconds}s reads ${text}`, () => expect(formatDuration(seconds)).toBe(text));

  it("round-trips every whole number of seconds", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 10 * 365 * 86_400 }), (n) => parseDuration(formatDuration(n)) === n));
  });
});
