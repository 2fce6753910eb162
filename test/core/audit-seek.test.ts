import { describe, expect, it } from "vitest";
import { chooseSeekEntry, parseSeekIndex, seekEntryLine, seekHeader, seekTime, type SeekEntry } from "../../src/core/audit-seek.js";
import { auditFilterMatches, auditTypeFilter } from "../../src/core/audit-types.js";

const H = seekHeader("1234", "a".repeat(64));
const e = (seq: number, offset: number, maxBefore: number): SeekEntry => ({ seq, offset, maxBefore });

describe("chooseSeekEntry: the last entry all of whose earlier events are older than --since", () => {
  const entries = [e(100, 1000, 10), e(200, 2000, 20), e(300, 3000, 30), e(400, 4000, Infinity)];
  it.each([
    ["before every event", 5, null],
    ["equal to a max: that entry is not taken (an event AT since must be read)", 10, null],
    ["just after the first max", 11, 100],
    ["between", 25, 200],
    ["after every finite max", 1e15, 300],
    ["an entry after a time that is no date is never taken", Infinity, 300],
    ["NaN: from the start", NaN, null],
  ])("%s", (_name, since, seq) => {
    expect(chooseSeekEntry(entries, since)?.seq ?? null).toBe(seq);
  });

  it("a clock that went backwards: the max stays high, so the entries after the jump are not taken", () => {
    // Events: t=100…199 before offset 1000, then the clock jumps back to 50 and runs on.
    const back = [e(100, 1000, 199), e(200, 2000, 199), e(300, 3000, 199), e(400, 4000, 260)];
    expect(chooseSeekEntry(back, 150)).toBeNull(); // an event at t=150 may lie anywhere before offset 4000
    expect(chooseSeekEntry(back, 200)?.seq).toBe(300);
    expect(chooseSeekEntry(back, 261)?.seq).toBe(400);
  });

  it("no entries: from the start", () => {
    expect(chooseSeekEntry([], 1)).toBeNull();
  });
});

describe("parseSeekIndex", () => {
  it("round-trips what the store writes", () => {
    const entries = [e(3, 100, -5), e(9, 700, 1_700_000_000_000), e(12, 900, Infinity)];
    const text = H + entries.map(seekEntryLine).join("");
    expect(parseSeekIndex(text)).toEqual({ ino: "1234", firstLine: "a".repeat(64), entries });
  });

  it.each([
    ["empty", ""],
    ["no header", "3 100 5\n"],
    ["another version", H.replace(" 1 ", " 2 ")],
    ["torn last line", `${H}3 100 5`],
    ["junk line", `${H}3 100 5\nhello\n`],
    ["offsets not increasing", `${H}3 100 5\n4 100 6\n`],
    ["seqs not increasing", `${H}3 100 5\n3 200 6\n`],
    ["a max that decreases", `${H}3 100 5\n4 200 4\n`],
    ["inf then a number", `${H}3 100 inf\n4 200 9\n`],
    ["offset 0", `${H}1 0 5\n`],
    ["a 17-digit number", `${H}3 100 12345678901234567\n`],
  ])("refuses %s", (_name, text) => {
    expect(parseSeekIndex(text)).toBeNull();
  });

  it("the header alone is an index without entries", () => {
    expect(parseSeekIndex(H)?.entries).toEqual([]);
  });
});

describe("seekTime", () => {
  it.each([
    ["2026-12-06T10:00:00.000Z", Date.parse("2026-12-06T10:00:00.000Z")],
    ["not a date", Infinity],
    [42, Infinity],
    [null, Infinity],
  ])("%j", (t, want) => {
    expect(seekTime(t)).toBe(want);
  });
});

describe("auditFilterMatches: the exact filter of guard audit log", () => {
  const ev = { time: "2026-12-06T10:00:00.000Z", type: "approval.recorded", actor: { principal: "bob", fingerprint: "SHA256:b" }, data: { requestId: "r-x" } };
  const t = (arg: string) => {
    const f = auditTypeFilter(arg);
    if (!f.ok) throw new Error(arg);
    return { prefix: f.prefix, family: f.family };
  };
  it.each([
    [{}, true],
    [{ sinceMs: Date.parse(ev.time) }, true],
    [{ sinceMs: Date.parse(ev.time) + 1 }, false],
    [{ type: t("approval") }, true],
    [{ type: t("approval.recorded") }, true],
    [{ type: t("approval.refused") }, false],
    [{ type: t("run") }, false],
    [{ requestId: "r-x" }, true],
    [{ requestId: "r-y" }, false],
    [{ actor: "bob" }, true],
    [{ actor: "SHA256:b" }, true],
    [{ actor: "alice" }, false],
  ])("%j → %s", (f, want) => {
    expect(auditFilterMatches(ev, f)).toBe(want);
  });

  it("a time that is no date passes --since (as before indexes)", () => {
    expect(auditFilterMatches({ ...ev, time: "yesterday" }, { sinceMs: 0 })).toBe(true);
  });
});
