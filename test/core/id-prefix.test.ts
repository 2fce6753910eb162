import { describe, expect, it } from "vitest";
import { resolveRequestId } from "../../src/core/ids.js";

const A = "r-3k5qzv7n2m4c6b8d0f1h".replace(/[018]/g, "a");
const B = "r-3k5qabcdefghijklmnop";
const C = "r-zzzzzzzzzzzzzzzzzzzz";

describe("request id prefixes", () => {
  it.each([
    [A, [], { ok: true, id: A }],
    ["r-3k5qz", [A, B, C], { ok: true, id: A }],
    ["3k5qa", [A, B, C], { ok: true, id: B }],
    ["z", [A, B, C], { ok: true, id: C }],
    ["r-3k5q", [A, B, C], { ok: false, problem: "ambiguous", candidates: [B, A].sort() }],
    ["r-x", [A, B, C], { ok: false, problem: "none", candidates: [] }],
    ["r-", [A, B, C], { ok: false, problem: "not-an-id", candidates: [] }],
    ["R-3K5Q", [A, B, C], { ok: false, problem: "not-an-id", candidates: [] }],
    ["r-3k5q*", [A, B, C], { ok: false, problem: "not-an-id", candidates: [] }],
    ["r-3k5q", [A, "r-3k5q../../etc", A], { ok: true, id: A }],
  ])("%j among %j", (given, known, want) => {
    expect(resolveRequestId(given, known)).toEqual(want);
  });
});
