import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "../../src/core/duration.js";

describe("parseDuration", () => {
  it.each([
    ["90s", 90],
    ["30m", 1800],
    ["1h", 3600],
    ["7d", 604_800],
    ["1h30m", 5400],
    ["2d12h", 216_000],
    ["1d2h3m4s", 93_784],
    ["0s", 0],
    ["60m", 3600],
  ])("%s is %i seconds", (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });

  it.each([
    ["", "empty"],
    ["90", "no unit"],
    ["1.5h", "a fraction"],
    ["-1h", "a sign"],
    ["+1h", "a sign"],
    ["30M", "an uppercase unit"],
    ["1h 30m", "a space"],
    [" 1h", "leading space"],
    ["30m1h", "units out of order"],
    ["1h1h", "a repeated unit"],
    ["01h", "a leading zero (YAML 1.1 octal habit)"],
    ["0600", "an octal-looking number"],
    ["1w", "an unknown unit"],
    ["1ms", "milliseconds"],
    ["h", "a unit without a number"],
    ["1e3s", "an exponent"],
    ["１h", "a fullwidth digit"],
    ["9999999999d", "more digits than any real duration"],
  ])("%j is refused (%s)", (text) => {
    expect(parseDuration(text)).toBeNull();
  });
});

describe("formatDuration", () => {
  it.each([
    [0, "0s"],
    [45, "45s"],
    [90, "1m30s"],
    [1800, "30m"],
    [3600, "1h"],
    [5400, "1h30m"],
    [604_800, "7d"],
    [93_784, "1d2h3m4s"],
  ])("%i seconds is %s", (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });

  it("round-trips through parseDuration", () => {
    for (const s of [0, 1, 59, 60, 61, 3599, 3600, 86_399, 86_400, 604_800, 1_000_000]) expect(parseDuration(formatDuration(s))).toBe(s);
  });
});
