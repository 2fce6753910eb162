/**
 * Issue 12 item 5, the pure parts: the refusal rate limit (an injected clock), the size bound of a
 * refusal's data, and the cross-check of store records against the events that recorded them.
 */
import { describe, expect, it } from "vitest";
import { admitRefusal, boundEventData, defaultRefusalCode, pruneLimits, type LimitEntry } from "../../src/core/refusal.js";
import { approvalKey, crossCheckRecords } from "../../src/core/audit.js";
import { escapeForTerminal } from "../../src/core/escape.js";

const LIMITS = { perWindow: 3, windowMs: 60_000 };

describe("admitRefusal: at most perWindow events a window per key, the rest counted and carried", () => {
  it.each([
    ["no state: recorded, a new window", undefined, 1_000, { record: true, carried: 0, entry: { windowStart: 1_000, count: 1, suppressed: 0 } }],
    ["below the limit: recorded", { windowStart: 0, count: 2, suppressed: 0 }, 59_999, { record: true, carried: 0, entry: { windowStart: 0, count: 3, suppressed: 0 } }],
    ["at the limit: not recorded, counted", { windowStart: 0, count: 3, suppressed: 4 }, 59_999, { record: false, carried: 0, entry: { windowStart: 0, count: 3, suppressed: 5 } }],
    ["the window over: recorded, carrying the count", { windowStart: 0, count: 3, suppressed: 5 }, 60_000, { record: true, carried: 5, entry: { windowStart: 60_000, count: 1, suppressed: 0 } }],
    ["a clock gone back: a new window, carrying the count", { windowStart: 50_000, count: 3, suppressed: 2 }, 10_000, { record: true, carried: 2, entry: { windowStart: 10_000, count: 1, suppressed: 0 } }],
  ] as Array<[string, LimitEntry | undefined, number, unknown]>)("%s", (_name, entry, now, expected) => {
    expect(admitRefusal(entry, now, LIMITS)).toEqual(expected);
  });

  it("a loop of 100 refusals in one window records 3; the first after the window carries 97", () => {
    let entry: LimitEntry | undefined;
    let recorded = 0;
    for (let i = 0; i < 100; i++) {
      const a = admitRefusal(entry, 1_000 + i * 100, LIMITS);
      entry = a.entry;
      if (a.record) recorded++;
    }
    expect(recorded).toBe(3);
    expect(admitRefusal(entry, 1_000 + 60_000, LIMITS)).toMatchObject({ record: true, carried: 97 });
  });

  it("pruneLimits drops finished windows with nothing to carry and keeps at most `max` keys", () => {
    const state: Record<string, LimitEntry> = {
      old: { windowStart: 0, count: 3, suppressed: 0 },
      owes: { windowStart: 0, count: 3, suppressed: 2 },
      live: { windowStart: 100_000, count: 1, suppressed: 0 },
    };
    expect(Object.keys(pruneLimits(state, 120_000, 60_000)).sort()).toEqual(["live", "owes"]);
    expect(Object.keys(pruneLimits(state, 120_000, 60_000, 1))).toEqual(["live"]);
  });
});

describe("boundEventData: strings, arrays and the whole within bounds, with markers", () => {
  const limits = { maxString: 10, maxArray: 3, maxBytes: 200 };
  it("cuts long strings and arrays and says how much", () => {
    expect(boundEventData({ code: "replay", s: "x".repeat(15), a: [1, 2, 3, 4, 5] }, limits)).toEqual({ code: "replay", s: "xxxxxxxxxx…[cut 5]", a: [1, 2, 3, "…[cut 2 items]"] });
  });
  it("replaces the largest members until the data fits, never code, exitCode or requestId", () => {
    const data = { code: "policy-deny", exitCode: 77, requestId: "r-aaaaaaaaaaaaaaaaaaaa", a: Array(3).fill("y".repeat(10)), b: Array(3).fill("z".repeat(10)), c: "small" };
    const out = boundEventData(data, { ...limits, maxArray: 10, maxBytes: 140 });
    expect(JSON.stringify(out).length).toBeLessThanOrEqual(140);
    expect(out).toMatchObject({ code: "policy-deny", exitCode: 77, requestId: "r-aaaaaaaaaaaaaaaaaaaa", c: "small" });
    expect(String(out.a)).toMatch(/^…\[cut \d+ bytes\]$/);
  });
  it("a __proto__ member stays data; deep nesting is cut", () => {
    const data = JSON.parse('{"__proto__":{"polluted":true},"deep":[[[[[[[[[["x"]]]]]]]]]]}') as Record<string, unknown>;
    const out = boundEventData(data);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(JSON.stringify(out)).toContain('"__proto__":{"polluted":true}');
    expect(JSON.stringify(out)).toContain("nested too deep");
  });
  it("default codes follow the exit code", () => {
    expect([65, 64, 77].map(defaultRefusalCode)).toEqual(["tampered", "usage", "denied"]);
  });
});

describe("crossCheckRecords: every record has its event, every event its record", () => {
  const D = "d".repeat(64);
  const report = (created: Array<[string, string | null]>, approvals: string[][] = []) => ({
    createdRequests: new Map(created),
    recordedApprovals: new Set(approvals.map(([r, p, d, f]) => approvalKey(r!, p!, d!, f!))),
  });
  const none = { requests: [], approvals: [], consumptions: [] };
  it.each([
    ["a matching store", report([["r-1", D]], [["r-1", "bob", "approve", "fp"]]), { ...none, requests: [{ id: "r-1", digest: D }], approvals: [{ requestId: "r-1", principal: "bob", decision: "approve", fingerprint: "fp" }], consumptions: [{ requestId: "r-1", requestDigest: D }] }, []],
    ["a planted request", report([]), { ...none, requests: [{ id: "r-2", digest: D }] }, [/^request r-2 is in the store but the audit log has no request.created event/]],
    ["a replaced request", report([["r-1", "e".repeat(64)]]), { ...none, requests: [{ id: "r-1", digest: D }] }, [/^request r-1 in the store is not the request the audit log recorded/]],
    ["a deleted request", report([["r-1", D]]), none, [/^the audit log records request r-1 as created but the store has no record of it/]],
    ["a planted approval", report([["r-1", D]]), { ...none, requests: [{ id: "r-1", digest: D }], approvals: [{ requestId: "r-1", principal: "eve", decision: "approve", fingerprint: "fp" }] }, [/^request r-1: the store holds an approval by eve \(fp\) that the audit log never recorded/]],
    ["an approval whose decision was changed", report([["r-1", D]], [["r-1", "bob", "deny", "fp"]]), { ...none, requests: [{ id: "r-1", digest: D }], approvals: [{ requestId: "r-1", principal: "bob", decision: "approve", fingerprint: "fp" }] }, [/holds an approval by bob/, /records a denial of request r-1 by bob .* no such record/]],
    ["a consumption with another digest", report([["r-1", D]]), { ...none, requests: [{ id: "r-1", digest: D }], consumptions: [{ requestId: "r-1", requestDigest: "f".repeat(64) }] }, [/^the consumption record of request r-1 names a different request digest/]],
  ] as Array<[string, ReturnType<typeof report>, Parameters<typeof crossCheckRecords>[1], RegExp[]]>)("%s", (_name, r, records, expected) => {
    const problems = crossCheckRecords(r, records, escapeForTerminal);
    expect(problems).toHaveLength(expected.length);
    expected.forEach((re, i) => expect(problems[i]).toMatch(re));
  });

  it("names from records are escaped", () => {
    const problems = crossCheckRecords(report([["r-1", D]]), { ...none, requests: [{ id: "r-1", digest: D }], approvals: [{ requestId: "r-1", principal: "eve\x1b[2J", decision: "approve", fingerprint: "fp" }] }, escapeForTerminal);
    expect(problems[0]).not.toContain("\x1b");
  });
});
