/** The pure part of per-run credentials: the strict reading of a mint command's output, and names. */
import { describe, expect, it } from "vitest";
import { adminVariables, parseMintOutput, pgRoleName } from "../../src/core/credentials.js";
import type { Policy } from "../../src/core/types.js";

const NOW = Date.parse("2026-06-01T00:00:00Z");

describe("parseMintOutput", () => {
  it("reads env and expires", () => {
    expect(parseMintOutput('{"env": {"VENDOR_TOKEN": "t0k", "VENDOR_URL": "https://v"}, "expires": "2026-06-01T00:15:00Z"}\n', NOW)).toEqual({
      ok: true,
      env: { VENDOR_TOKEN: "t0k", VENDOR_URL: "https://v" },
      expires: "2026-06-01T00:15:00Z",
      expiresMs: Date.parse("2026-06-01T00:15:00Z"),
    });
  });

  it.each([
    ["", "not JSON"],
    ["token=abc", "not JSON"],
    ["[1]", "not a JSON object"],
    ['{"expires": "2026-06-01T00:15:00Z"}', 'no "env" object'],
    ['{"env": [], "expires": "2026-06-01T00:15:00Z"}', 'no "env" object'],
    ['{"env": {}, "expires": "2026-06-01T00:15:00Z"}', "names no variable"],
    ['{"env": {"A": 1}, "expires": "2026-06-01T00:15:00Z"}', '"env".A is not a string'],
    ['{"env": {"A": null}, "expires": "2026-06-01T00:15:00Z"}', '"env".A is not a string'],
    ['{"env": {"BAD-NAME": "x"}, "expires": "2026-06-01T00:15:00Z"}', "not a variable name"],
    ['{"env": {"A=B": "x"}, "expires": "2026-06-01T00:15:00Z"}', "not a variable name"],
    ['{"env": {"A": "x\\u0000y"}, "expires": "2026-06-01T00:15:00Z"}', "NUL"],
    ['{"env": {"A": "x"}}', 'no "expires"'],
    ['{"env": {"A": "x"}, "expires": "tomorrow"}', "not an ISO 8601"],
    ['{"env": {"A": "x"}, "expires": "2026-06-01T00:15:00"}', "not an ISO 8601"],
    ['{"env": {"A": "x"}, "expires": "2026-05-31T23:59:59Z"}', "expired already"],
    ['{"env": {"A": "x"}, "expires": "2026-06-01T00:15:00Z", "note": "hi"}', "unknown fields"],
  ])("refuses %s", (stdout, reason) => {
    const r = parseMintOutput(stdout, NOW);
    expect(r.ok).toBe(false);
    expect(r.ok ? "" : r.reason).toContain(reason);
  });

  it("never quotes a value in its reason (it may be a secret)", () => {
    const r = parseMintOutput('{"env": {"A": "s3cr3t-value"}, "expires": "nope"}', NOW);
    expect(r.ok ? "" : r.reason).not.toContain("s3cr3t");
  });

  it("a variable named __proto__ cannot reach Object.prototype", () => {
    const r = parseMintOutput('{"env": {"__proto__": "x"}, "expires": "2026-06-01T00:15:00Z"}', NOW);
    expect(r.ok).toBe(true);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});

describe("names", () => {
  it("a run's role carries its run id", () => {
    expect(pgRoleName("run-0123456789abcdef0123456789abcdef")).toBe("guard_run_0123456789abcdef0123456789abcdef");
    expect(() => pgRoleName('run-x"; DROP ROLE postgres; --')).toThrow();
  });

  it("admin variables are the env: sources of every environment", () => {
    const env = (credentials?: unknown) => ({ name: "x", protected: false, aliases: [], detect: [], credentials }) as Policy["environments"][string];
    expect(
      adminVariables({
        environments: {
          a: env({ type: "postgres", admin: { kind: "env", name: "B_ADMIN" }, grant: ["m"], export: "DATABASE_URL", ttlSeconds: 60 }),
          b: env({ type: "postgres", admin: { kind: "file", path: "/etc/x" }, grant: ["m"], export: "DATABASE_URL", ttlSeconds: 60 }),
          c: env({ type: "command", run: ["/bin/m"], revoke: null, timeoutSeconds: 5 }),
          d: env({ type: "postgres", admin: { kind: "env", name: "A_ADMIN" }, grant: ["m"], export: "DATABASE_URL", ttlSeconds: 60 }),
          e: env(),
        },
      }),
    ).toEqual(["A_ADMIN", "B_ADMIN"]);
  });
});
