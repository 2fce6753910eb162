import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson, sha256Hex } from "../../src/core/canonical.js";
import { GuardError } from "../../src/core/errors.js";
import {
  type BuildRequestInput,
  type RunBinding,
  approvalMessage,
  bindingOf,
  buildRequest,
  compareBinding,
  findMatchingRequest,
  isExpired,
  requestDigest,
  requestMessage,
} from "../../src/core/request.js";
import type { ApprovalStatement, Evidence, GuardRequest, SignedRequest } from "../../src/core/types.js";

const T0 = Date.parse("2026-03-01T10:00:00.000Z");
const BLOB = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from("ssh-ed25519"), Buffer.from([0, 0, 0, 32]), Buffer.alloc(32, 1)]).toString("base64");
const FP = `SHA256:${createHash("sha256").update(Buffer.from(BLOB, "base64")).digest("base64").replace(/=+$/, "")}`;
const HEX = (c: string): string => c.repeat(64);

const prodEvidence: Evidence[] = [
  { source: "env", subject: "DATABASE_URL", value: "postgres://prod-db.internal/elb", environment: "production", detail: 'DATABASE_URL matches "*prod-db.*"' },
  { source: "declared", subject: "--env", value: "prod", environment: "production", detail: "--env prod" },
];

function input(over: Partial<BuildRequestInput> = {}): BuildRequestInput {
  return {
    id: "r-aaaaaaaaaaaaaaaaaaaa",
    nonce: "0".repeat(32),
    requester: { principal: "alice", fingerprint: FP, key: `ssh-ed25519 ${BLOB}` },
    argv: ["scripts/purge-lb-state.sh", "--region", "us-east-1"],
    program: { path: "/repo/scripts/purge-lb-state.sh", sha256: HEX("a") },
    cwd: "/repo",
    environment: { name: "production", protected: true, evidence: prodEvidence },
    env: { AWS_PROFILE: { sha256: sha256Hex("prod-admin"), shown: "prod-admin" }, NODE_OPTIONS: { sha256: null, shown: null } },
    stdin: { kind: "tty" },
    reason: "INC-42 stale state",
    policyDigest: HEX("b"),
    rules: ["purge-needs-an-sre"],
    requirements: [{ rule: "purge-needs-an-sre", approvals: 1, from: ["sre"], reason: true, confirm: true, ttlSeconds: 1800 }],
    breakGlass: false,
    now: T0,
    ...over,
  };
}

const req = (over: Partial<BuildRequestInput> = {}): GuardRequest => buildRequest(input(over));
const VIA = { path: "/usr/bin/psql", links: [{ path: "/usr/bin/psql", target: "../share/postgresql-common/pg_wrapper" }] };
const VIA_TEXT = "/usr/bin/psql (/usr/bin/psql → ../share/postgresql-common/pg_wrapper)";

describe("buildRequest", () => {
  const r = (ttls: number[]) => ttls.map((ttlSeconds, i) => ({ rule: `r${i}`, approvals: 1, from: null, reason: false, confirm: false, ttlSeconds }));
  it.each([
    ["the strictest requirement's ttl wins", r([3600, 1800, 7200]), "2026-03-01T10:30:00.000Z"],
    ["1 h without requirements", [], "2026-03-01T11:00:00.000Z"],
    ["never more than 7 days", r([30 * 24 * 3600]), "2026-03-08T10:00:00.000Z"],
  ])("%s", (_name, requirements, expiresAt) => {
    const built = req({ requirements });
    expect(built.createdAt).toBe("2026-03-01T10:00:00.000Z");
    expect(built.expiresAt).toBe(expiresAt);
  });

  it("copies its inputs: changing them afterwards does not change the request", () => {
    const i = input();
    const built = buildRequest(i);
    const before = canonicalJson(built);
    i.argv.push("--all");
    i.requirements[0]!.approvals = 0;
    i.environment.evidence.pop();
    expect(canonicalJson(built)).toBe(before);
  });

  it.each([
    ["S5: a path-like id", { id: "../../policy" }, 70],
    ["a zero ttl", { requirements: [{ rule: "x", approvals: 1, from: null, reason: false, confirm: false, ttlSeconds: 0 }] }, 78],
    ["a bad program hash", { program: { path: "/x", sha256: "nope" } }, 65],
    ["an empty argv", { argv: [] }, 65],
  ])("refuses %s", (_name, over, exitCode) => {
    expect(() => req(over as Partial<BuildRequestInput>)).toThrow(GuardError);
    try {
      req(over as Partial<BuildRequestInput>);
    } catch (e) {
      expect((e as GuardError).exitCode).toBe(exitCode);
    }
  });
});

describe("messages and digests", () => {
  it("requestMessage is canonical JSON: key order does not matter", () => {
    const a = req();
    const reordered = JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(a).reverse()))) as GuardRequest;
    expect(requestMessage(reordered)).toBe(requestMessage(a));
    expect(requestDigest(a)).toBe(sha256Hex(requestMessage(a)));
    expect(requestMessage(a).startsWith('{"argv":[')).toBe(true);
  });

  it("approvalMessage is canonical JSON of the statement", () => {
    const st: ApprovalStatement = {
      v: 1, requestId: "r-aaaaaaaaaaaaaaaaaaaa", requestDigest: HEX("c"), decision: "approve",
      principal: "bob", fingerprint: FP, comment: null, createdAt: "2026-03-01T10:01:00.000Z", nonce: "1".repeat(32),
    };
    expect(approvalMessage(st)).toBe(canonicalJson(st));
  });

  it("A1/A9/S1: the digest changes when any field changes (property)", () => {
    const base = req();
    const mutations: Array<(r: GuardRequest, s: string) => void> = [
      (r, s) => (r.argv[1] = s),
      (r, s) => r.argv.push(s),
      (r, s) => (r.program.path = s),
      (r) => (r.program.sha256 = HEX("f")),
      (r, s) => (r.cwd = s),
      (r, s) => (r.environment.name = s),
      (r) => (r.environment.protected = false),
      (r, s) => (r.environment.evidence[0]!.value = s),
      (r, s) => (r.env[`X_${s}`] = { sha256: null, shown: null }),
      (r) => (r.env.AWS_PROFILE = { sha256: HEX("e"), shown: "prod-admin" }),
      (r) => (r.stdin = { kind: "null" }),
      (r, s) => (r.reason = s),
      (r) => (r.policyDigest = HEX("d")),
      (r, s) => r.rules.push(s),
      (r) => (r.requirements[0]!.approvals = 2),
      (r) => (r.requirements[0]!.from = null),
      (r) => (r.requirements[0]!.ttlSeconds = 1799),
      (r) => (r.breakGlass = true),
      (r) => (r.createdAt = "2026-03-01T10:00:00.001Z"),
      (r) => (r.expiresAt = "2026-03-08T10:00:00.000Z"),
      (r) => (r.nonce = "1".repeat(32)),
      (r) => (r.id = "r-bbbbbbbbbbbbbbbbbbbb"),
      (r) => (r.requester.principal = null),
      (r) => (r.requester.fingerprint = "SHA256:" + "x".repeat(43)),
    ];
    fc.assert(
      fc.property(fc.integer({ min: 0, max: mutations.length - 1 }), fc.string({ minLength: 1 }), (i, s) => {
        const copy = structuredClone(base);
        mutations[i]!(copy, s);
        fc.pre(canonicalJson(copy) !== canonicalJson(base)); // e.g. replacing argv[1] by itself
        expect(requestDigest(copy)).not.toBe(requestDigest(base));
      }),
    );
  });
});

describe("compareBinding", () => {
  const base = req();
  const binding = (mut: (b: RunBinding) => void = () => {}): RunBinding => {
    const b = structuredClone(bindingOf(base));
    mut(b);
    return b;
  };

  it("the same binding has no differences", () => {
    expect(compareBinding(base, binding())).toEqual([]);
  });

  it("issue 19: an approved link chain pointed elsewhere, or the link bypassed, is a difference", () => {
    const linked = req({ program: { path: "/usr/share/postgresql-common/pg_wrapper", sha256: HEX("a"), via: VIA } });
    const same = structuredClone(bindingOf(linked));
    expect(compareBinding(linked, same)).toEqual([]);
    const repointed = structuredClone(same);
    repointed.program.via = { path: "/usr/bin/psql", links: [{ path: "/usr/bin/psql", target: "/usr/share/postgresql-common/pg_wrapper" }] };
    expect(compareBinding(linked, repointed).map((d) => [d.field, d.approved, d.current])).toEqual([
      ["program.via", VIA_TEXT, "/usr/bin/psql (/usr/bin/psql → /usr/share/postgresql-common/pg_wrapper)"],
    ]);
    const bypassed = structuredClone(same);
    delete bypassed.program.via;
    expect(compareBinding(linked, bypassed).map((d) => d.field)).toEqual(["program.via"]);
  });

  it("issue 19: a request without links keeps its shape and digest (no via key at all)", () => {
    expect(Object.keys(base.program).sort()).toEqual(["path", "sha256"]);
    const linked = req({ program: { path: "/usr/share/postgresql-common/pg_wrapper", sha256: HEX("a"), via: VIA } });
    expect(linked.program.via).toEqual(VIA);
    expect(requestDigest(linked)).not.toBe(requestDigest(req({ program: { path: "/usr/share/postgresql-common/pg_wrapper", sha256: HEX("a") } })));
  });

  it.each<[string, (b: RunBinding) => void, Array<[string, string, string]>]>([
    ["C6: reordered args", (b) => (b.argv = ["scripts/purge-lb-state.sh", "us-east-1", "--region"]), [
      ["argv", "argv[1] = --region", "argv[1] = us-east-1"],
      ["argv", "argv[2] = us-east-1", "argv[2] = --region"],
    ]],
    ["C6: an extra argument appended", (b) => b.argv.push("--no-dry-run"), [["argv", "argv[3] = (none)", "argv[3] = --no-dry-run"]]],
    ["C7: one argument with a space vs two", (b) => (b.argv = ["scripts/purge-lb-state.sh", "--region us-east-1"]), [
      ["argv", "argv[1] = --region", "argv[1] = '--region us-east-1'"],
      ["argv", "argv[2] = us-east-1", "argv[2] = (none)"],
    ]],
    ["C7: a trailing backslash", (b) => (b.argv[2] = "us-east-1\\"), [["argv", "argv[2] = us-east-1", "argv[2] = $'us-east-1\\\\'"]]],
    ["C7: a newline in an argument is visible", (b) => (b.argv[2] = "us-east-1\nrm -rf /"), [["argv", "argv[2] = us-east-1", "argv[2] = $'us-east-1\\nrm -rf /'"]]],
    ["C7: no normalisation of Unicode", (b) => (b.argv[2] = "us-east-1".normalize("NFD") + "\u0301"), [["argv", "argv[2] = us-east-1", "argv[2] = 'us-east-1\u0301'"]]],
    ["C3: another program path", (b) => (b.program.path = "/home/a/evil/purge-lb-state.sh"), [["program.path", "/repo/scripts/purge-lb-state.sh", "/home/a/evil/purge-lb-state.sh"]]],
    ["C4: the script was edited", (b) => (b.program.sha256 = HEX("9")), [["program.sha256", HEX("a"), HEX("9")]]],
    ["C1: another working directory", (b) => (b.cwd = "/tmp"), [["cwd", "/repo", "/tmp"]]],
    ["another environment", (b) => (b.environment.name = "staging"), [["environment", "production", "staging"]]],
    ["E12: a bound variable changed", (b) => (b.env.AWS_PROFILE = { sha256: sha256Hex("prod-ro"), shown: "prod-ro" }), [["env.AWS_PROFILE", "prod-admin", "prod-ro"]]],
    ["C11: NODE_OPTIONS set only at run time", (b) => (b.env.NODE_OPTIONS = { sha256: sha256Hex("--require x"), shown: "--require x" }), [["env.NODE_OPTIONS", "(unset)", "--require x"]]],
    ["C11: LD_PRELOAD appears under a glob at run time", (b) => (b.env.LD_PRELOAD = { sha256: sha256Hex("/tmp/e.so"), shown: "/tmp/e.so" }), [["env.LD_PRELOAD", "(unset)", "/tmp/e.so"]]],
    ["a bound variable disappeared", (b) => delete b.env.AWS_PROFILE, [["env.AWS_PROFILE", "prod-admin", "(unset)"]]],
    ["redacted values that read the same show their digests", (b) => (b.env.AWS_PROFILE = { sha256: HEX("7"), shown: "prod-admin" }), [
      ["env.AWS_PROFILE", `prod-admin (sha256 ${sha256Hex("prod-admin").slice(0, 12)}…)`, `prod-admin (sha256 ${"7".repeat(12)}…)`],
    ]],
    ["C10: stdin is no longer a terminal", (b) => (b.stdin = { kind: "null" }), [["stdin", "tty", "null"]]],
    ["the policy changed", (b) => (b.policyDigest = HEX("c")), [["policy", HEX("b"), HEX("c")]]],
    ["another requester", (b) => (b.requesterFingerprint = "SHA256:other"), [["requester", FP, "SHA256:other"]]],
    ["T1: hostile text is escaped on both sides", (b) => (b.cwd = "/repo\x1b[2J\u202e"), [["cwd", "/repo", "/repo\\x1b[2J\\u202e"]]],
    ["issue 19: run through a link that was not approved", (b) => (b.program.via = VIA), [["program.via", "(its real path, no symbolic link)", VIA_TEXT]]],
  ])("%s", (_name, mut, expected) => {
    const diffs = compareBinding(base, binding(mut));
    expect(diffs.map((d) => [d.field, d.approved, d.current])).toEqual(expected);
  });

  it("evidence: a changed value behind the same environment is a difference", () => {
    const diffs = compareBinding(base, binding((b) => (b.environment.evidence[0]!.value = "postgres://prod-db2.internal/elb")));
    expect(diffs).toHaveLength(1);
    expect(diffs[0]!.field).toBe("evidence");
    expect(diffs[0]!.approved).toContain("prod-db.internal");
    expect(diffs[0]!.current).toContain("prod-db2.internal");
  });

  it("evidence: a new source pointing elsewhere is a difference", () => {
    const extra: Evidence = { source: "kube_context", subject: "/home/a/.kube/config", value: "prod-eu", environment: "production", detail: "" };
    const diffs = compareBinding(base, binding((b) => b.environment.evidence.push(extra)));
    expect(diffs.map((d) => [d.field, d.approved])).toEqual([["evidence", "(nothing else)"]]);
    expect(diffs[0]!.current).toContain("kube_context");
  });

  it("evidence: wording, order and the declared --env flag are not compared", () => {
    const diffs = compareBinding(base, binding((b) => {
      b.environment.evidence = [{ ...b.environment.evidence[0]!, detail: "reworded" }];
    }));
    expect(diffs).toEqual([]);
  });

  it("every bound field, when changed, gives a difference naming it (property)", () => {
    const fields: Array<[string, (b: RunBinding, s: string) => void]> = [
      ["argv", (b, s) => b.argv.push(s)],
      ["program.path", (b, s) => (b.program.path += s)],
      ["program.sha256", (b, s) => (b.program.sha256 += s)],
      ["cwd", (b, s) => (b.cwd += s)],
      ["environment", (b, s) => (b.environment.name += s)],
      ["evidence", (b, s) => (b.environment.evidence[0]!.subject += s)],
      ["env.AWS_PROFILE", (b, s) => (b.env.AWS_PROFILE = { sha256: sha256Hex(s + "x"), shown: s })],
      ["policy", (b, s) => (b.policyDigest += s)],
      ["requester", (b, s) => (b.requesterFingerprint += s)],
    ];
    fc.assert(
      fc.property(fc.integer({ min: 0, max: fields.length - 1 }), fc.string({ minLength: 1 }), (i, s) => {
        const [field, mut] = fields[i]!;
        expect(compareBinding(base, binding((b) => mut(b, s))).map((d) => d.field)).toContain(field);
      }),
    );
  });
});

describe("findMatchingRequest", () => {
  const sign = (r: GuardRequest): SignedRequest => ({ request: r, signature: "sig" });
  const older = req({ id: "r-aaaaaaaaaaaaaaaaaaaa", now: T0 });
  const newer = req({ id: "r-bbbbbbbbbbbbbbbbbbbb", now: T0 + 60_000 });
  const otherArgs = req({ id: "r-cccccccccccccccccccc", now: T0 + 120_000, argv: ["scripts/purge-lb-state.sh", "--all"] });
  const expiredOne = req({ id: "r-dddddddddddddddddddd", now: T0 - 3_600_000 });
  const binding = bindingOf(older);

  it("picks the newest unexpired request with exactly this binding", () => {
    const found = findMatchingRequest([sign(older), sign(newer), sign(otherArgs), sign(expiredOne)], binding, FP, T0 + 130_000);
    expect(found?.request.id).toBe(newer.id);
  });

  it("ignores requests of another requester, expired ones and malformed records", () => {
    const malformed = { request: { ...newer, extra: 1 }, signature: "sig" } as unknown as SignedRequest;
    expect(findMatchingRequest([sign(expiredOne), malformed], bindingOf(expiredOne), FP, T0)).toBeNull();
    expect(findMatchingRequest([sign(older)], binding, "SHA256:someone-else", T0)).toBeNull();
  });

  it("does not match when only the arguments differ (C6)", () => {
    expect(findMatchingRequest([sign(otherArgs)], binding, FP, T0 + 130_000)).toBeNull();
  });
});

describe("isExpired", () => {
  const r = req();
  it.each([
    ["before expiry", T0 + 1_799_999, false],
    ["at expiry", T0 + 1_800_000, true],
    ["after expiry", T0 + 9_000_000, true],
  ])("%s", (_name, now, expected) => {
    expect(isExpired(r, now)).toBe(expected);
  });

  it("an unreadable expiry counts as expired", () => {
    expect(isExpired({ ...r, expiresAt: "soon" }, T0)).toBe(true);
  });
});
