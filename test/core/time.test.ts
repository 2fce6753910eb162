import { describe, expect, it } from "vitest";
import { fitToWidth, localTime } from "../../src/core/time.js";

describe("localTime", () => {
  it.each([
    ["2026-11-27T17:40:00.000Z", "UTC", "2026-11-27 17:40:00 UTC"],
    ["2026-11-27T17:40:00.123Z", "Europe/Berlin", "2026-11-27 18:40:00 GMT+1"],
    ["2026-07-01T00:00:00Z", "America/New_York", "2026-06-30 20:00:00 EDT"],
  ])("%s in %s is %s", (iso, tz, want) => {
    expect(localTime(iso, tz)).toBe(want);
  });
  it("each zone keeps its own formatter: alternating zones give each its own time", () => {
    for (let i = 0; i < 3; i++) {
      expect(localTime("2026-11-27T17:40:00Z", "UTC")).toBe("2026-11-27 17:40:00 UTC");
      expect(localTime("2026-11-27T17:40:00Z", "Asia/Tokyo")).toBe("2026-11-28 02:40:00 GMT+9");
      expect(localTime("2026-11-27T17:41:00Z", "UTC")).toBe("2026-11-27 17:41:00 UTC");
    }
  });
  it("an unknown zone is refused every time, not only the first", () => {
    expect(() => localTime("2026-11-27T17:40:00Z", "Mars/Olympus")).toThrow(RangeError);
    expect(() => localTime("2026-11-27T17:40:00Z", "Mars/Olympus")).toThrow(RangeError);
  });
  it("an unreadable time is shown as given, printable only", () => {
    expect(localTime("soon\u001b[2J", "UTC")).toBe("soon?[2J");
  });
});

describe("fitToWidth", () => {
  it.each([
    ["short", 79, "short"],
    ["x".repeat(79), 79, "x".repeat(79)],
    ["x".repeat(100), 79, `${"x".repeat(78)}…`],
    ["ab—cd", 4, "ab—…"],
  ])("%j in %d columns", (line, width, want) => {
    expect(fitToWidth(line, width)).toBe(want);
    expect([...fitToWidth(line, width)].length).toBeLessThanOrEqual(width);
  });
});
