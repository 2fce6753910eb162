import { describe, expect, it } from "vitest";
import { GuardError } from "../../src/core/errors.js";
import { expandPreview, previewDifference, samePreview } from "../../src/core/preview.js";
import { buildRequest, validateRequestShape } from "../../src/core/request.js";
import type { PreviewResult, Requirement } from "../../src/core/types.js";

const FP = "SHA256:" + "A".repeat(43);
const HEX = (c: string): string => c.repeat(64);
const spec = { command: ["{program}", "--dry-run", "{args}"], recheck: true, timeoutSeconds: 30 };

describe("expandPreview", () => {
  it.each<[string[], string[]]>([
    [["{program}", "--dry-run", "{args}"], ["/repo/purge.sh", "--dry-run", "--all", "a b"]],
    [["terraform", "show", "{args}"], ["terraform", "show", "--all", "a b"]],
    [["{program}x", "{args}-"], ["{program}x", "{args}-"]],
  ])("%j", (command, expected) => {
    expect(expandPreview({ ...spec, command }, "/repo/purge.sh", ["--all", "a b"])).toEqual(expected);
  });
});

const result = (output: string, exitCode = 0): PreviewResult => ({ rule: "purge", argv: ["/p", "--dry-run"], exitCode, output, truncated: false });

describe("comparing previews", () => {
  it("the same output is the same preview; one changed byte is not", () => {
    expect(samePreview(result("would delete 12 rows\n"), result("would delete 12 rows\n"))).toBe(true);
    expect(samePreview(result("would delete 12 rows\n"), result("would delete 13 rows\n"))).toBe(false);
    expect(samePreview(result("x"), result("x", 1))).toBe(false);
  });
  it("the difference names the line and escapes both sides", () => {
    expect(previewDifference(result("a\nwould delete 12 rows\n"), result("a\nwould delete \x1b[2J12000000 rows\n"))).toEqual([
      "line 2:",
      "  approved: would delete 12 rows",
      "  now:      would delete \\x1b[2J12000000 rows",
    ]);
  });
});

const requirement: Requirement = { rule: "purge", approvals: 1, from: null, reason: false, confirm: false, ttlSeconds: 1800, preview: spec };

function request(requirements: Requirement[], previews?: PreviewResult[]) {
  return buildRequest({
    id: "r-aaaaaaaaaaaaaaaaaaaa",
    nonce: "0".repeat(32),
    requester: { principal: "alice", fingerprint: FP, key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==" },
    argv: ["/p"],
    program: { path: "/p", sha256: HEX("a") },
    ...(previews ? { previews } : {}),
    cwd: "/repo",
    environment: { name: "production", protected: true, evidence: [] },
    env: {},
    stdin: { kind: "null" },
    reason: null,
    policyDigest: HEX("c"),
    rules: requirements.map((r) => r.rule),
    requirements,
    breakGlass: false,
    now: Date.parse("2026-03-01T10:00:00.000Z"),
  });
}

const refused = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    if (e instanceof GuardError && e.exitCode === 65) return e.message;
    throw e;
  }
  return "accepted";
};

describe("the request's previews", () => {
  it("a requirement without a preview keeps the shape it always had", () => {
    const req = request([{ ...requirement, preview: undefined }].map(({ preview: _p, ...r }) => r));
    expect("previews" in req).toBe(false);
    expect("preview" in req.requirements[0]!).toBe(false);
  });
  it("round-trips with its preview", () => {
    expect(request([requirement], [result("ok\n")]).previews).toEqual([result("ok\n")]);
  });
  it.each<[string, () => unknown]>([
    ["a requirement asking for a preview without one", () => request([requirement])],
    ["a preview no requirement asks for", () => request([{ rule: "purge", approvals: 1, from: null, reason: false, confirm: false, ttlSeconds: 1800 }], [result("ok")])],
    ["a preview for another rule", () => request([requirement], [{ ...result("ok"), rule: "other" }])],
    ["two previews for one rule", () => request([requirement], [result("ok"), result("ok")])],
    ["a negative exit status", () => request([requirement], [result("ok", -1)])],
    ["an unknown field", () => validateRequestShape({ ...JSON.parse(JSON.stringify(request([requirement], [result("ok")]))), previews: [{ ...result("ok"), extra: 1 }] })],
  ])("refuses %s", (_, f) => {
    expect(refused(f)).toMatch(/request record is malformed: (previews|requirements)/);
  });
});
