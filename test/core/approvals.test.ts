import { createHash, randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type AssessInput, type VerifyFn, assessRequest, mayDecide, unapprovable } from "../../src/core/approvals.js";
import { newRequestId } from "../../src/core/ids.js";
import { approvalMessage, buildRequest, requestDigest, requestMessage } from "../../src/core/request.js";
import { SIG_NAMESPACE } from "../../src/core/types.js";
import type { ApprovalStatement, GuardRequest, Policy, PublicKey, Requirement, SignedApproval, SignedRequest } from "../../src/core/types.js";

// ---------------------------------------------------------------------------------------------
// A signature table stands in for SSHSIG: a "signature" is valid exactly for the key, namespace and
// message it was made over. The real SSHSIG verifier has its own tests; this one tests counting.
// ---------------------------------------------------------------------------------------------

const signed = new Map<string, { blob: string; namespace: string; message: string }>();
let counter = 0;

function sign(key: PublicKey, namespace: string, message: string): string {
  const sig = `-----FAKE SIGNATURE ${++counter}-----`;
  signed.set(sig, { blob: key.blob, namespace, message });
  return sig;
}

const verify: VerifyFn = (armored, message, namespace, keys) => {
  const entry = signed.get(armored);
  if (!entry) return { ok: false, reason: "not a signature" };
  if (entry.namespace !== namespace) return { ok: false, reason: `namespace ${entry.namespace}, expected ${namespace}` };
  if (entry.message !== message) return { ok: false, reason: "signature does not match the data" };
  const key = keys.find((k) => k.blob === entry.blob);
  return key ? { ok: true, key } : { ok: false, reason: "signed by a key that is not allowed" };
};

function newKey(): PublicKey {
  const raw = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from("ssh-ed25519"), Buffer.from([0, 0, 0, 32]), randomBytes(32)]);
  const fingerprint = `SHA256:${createHash("sha256").update(raw).digest("base64").replace(/=+$/, "")}`;
  return { type: "ssh-ed25519", blob: raw.toString("base64"), fingerprint };
}

const K = { alice: newKey(), bob: newKey(), bob2: newKey(), carol: newKey(), dave: newKey(), erin: newKey(), outsider: newKey() };

const T0 = Date.parse("2026-03-01T10:00:00.000Z");
const MIN = 60_000;

/** Each rule matches production runs given the flag `--<rule name>`, so a request's argv decides its rules. */
const requireRule = (name: string, approvals: number, from: string[] | null, ttlSeconds = 1800) => ({
  name,
  match: { environments: ["production"], args: [`--${name}`] },
  effect: { type: "require" as const, approvals, from, reason: true, confirm: false, ttlSeconds },
});

function basePolicy(): Policy {
  return {
    version: 1,
    environments: {
      production: { name: "production", protected: true, aliases: ["prod"], detect: [] },
      staging: { name: "staging", protected: false, aliases: [], detect: [] },
    },
    principals: {
      alice: { name: "alice", keys: [K.alice], groups: ["sre"] },
      bob: { name: "bob", keys: [K.bob, K.bob2], groups: ["sre", "dba"] },
      carol: { name: "carol", keys: [K.carol], groups: ["dba"] },
      dave: { name: "dave", keys: [K.dave], groups: ["dev"] },
      erin: { name: "erin", keys: [K.erin], groups: ["sre"] },
    },
    rules: [requireRule("purge-needs-an-sre", 1, ["sre"]), requireRule("two-dbas", 2, ["dba"]), requireRule("two-anyone", 2, null)],
    freezes: [],
    breakGlass: { environments: ["production"], groups: ["sre"] },
    bindEnv: [],
    root: "/repo",
    digest: "b".repeat(64),
  };
}

function requirementOf(policy: Policy, rule: string): Requirement {
  const r = policy.rules.find((x) => x.name === rule)!;
  if (r.effect.type !== "require") throw new Error("not a require rule");
  const { approvals, from, reason, confirm, ttlSeconds } = r.effect;
  return { rule, approvals, from, reason, confirm, ttlSeconds };
}

const freshId = (): string => newRequestId(randomBytes(13));

interface RequestOptions {
  by?: string | null;
  key?: PublicKey;
  rules?: string[];
  env?: string;
  argv?: string[];
  breakGlass?: boolean;
  reason?: string | null;
  now?: number;
  edit?: (r: GuardRequest) => void;
}

/**
 * A request signed by its requester (or, with `edit`, re-signed after editing: a malicious requester).
 * Its argv carries one flag per rule, so the policy derives exactly `rules` for it (in policy order).
 */
function makeRequest(o: RequestOptions = {}, policy = basePolicy()): SignedRequest {
  const key = o.key ?? K.alice;
  const rules = o.rules ?? ["purge-needs-an-sre"];
  const argv = o.argv ?? ["scripts/purge-lb-state.sh", "--all", ...rules.map((r) => `--${r}`)];
  const request = buildRequest({
    id: freshId(),
    nonce: randomBytes(16).toString("hex"),
    requester: { principal: o.by === undefined ? "alice" : o.by, fingerprint: key.fingerprint, key: `${key.type} ${key.blob}` },
    argv,
    program: { path: "/repo/scripts/purge-lb-state.sh", sha256: "a".repeat(64) },
    cwd: "/repo",
    environment: { name: o.env ?? "production", protected: (o.env ?? "production") === "production", evidence: [] },
    env: {},
    stdin: { kind: "tty" },
    reason: o.reason === undefined ? "INC-42" : o.reason,
    policyDigest: policy.digest,
    rules,
    requirements: rules.map((r) => requirementOf(policy, r)),
    breakGlass: o.breakGlass ?? false,
    now: o.now ?? T0,
  });
  o.edit?.(request);
  return { request, signature: sign(key, SIG_NAMESPACE.request, requestMessage(request)) };
}

interface ApprovalOptions {
  decision?: ApprovalStatement["decision"];
  key?: PublicKey;
  at?: number;
  namespace?: string;
  digest?: string;
  comment?: string | null;
}

function approve(req: SignedRequest, principal: string, o: ApprovalOptions = {}): SignedApproval {
  const key = o.key ?? K[principal as keyof typeof K];
  const statement: ApprovalStatement = {
    v: 1,
    requestId: req.request.id,
    requestDigest: o.digest ?? requestDigest(req.request),
    decision: o.decision ?? "approve",
    principal,
    fingerprint: key.fingerprint,
    comment: o.comment ?? null,
    createdAt: new Date(o.at ?? T0 + MIN).toISOString(),
    nonce: randomBytes(16).toString("hex"),
  };
  return { statement, signature: sign(key, o.namespace ?? SIG_NAMESPACE.approval, approvalMessage(statement)) };
}

function assess(signedReq: SignedRequest, approvals: SignedApproval[], over: Partial<AssessInput> = {}) {
  return assessRequest({ signed: signedReq, approvals, consumed: false, policy: basePolicy(), now: T0 + 2 * MIN, verify, ...over });
}

// ---------------------------------------------------------------------------------------------

describe("assessRequest: counting approvals", () => {
  it("one approval from an SRE other than the requester approves the request", () => {
    const r = makeRequest();
    const a = assess(r, [approve(r, "bob")]);
    expect(a).toMatchObject({ status: "approved", requestValid: true, problems: [], ignored: [] });
    expect(a.requirements[0]).toMatchObject({ approvedBy: ["bob"], needed: 1, met: true });
  });

  it("no approvals: pending, with the eligible principals listed and never the requester", () => {
    const r = makeRequest();
    const a = assess(r, []);
    expect(a.status).toBe("pending");
    expect(a.requirements[0]!.eligible).toEqual(["bob", "erin"]);
  });

  type Row = [string, (r: SignedRequest) => SignedApproval[], RegExp, Partial<AssessInput>?];
  it.each<Row>([
    ["A7: the requester approves their own request", (r) => [approve(r, "alice")], /alice is the requester/],
    ["A1: an approval for another request", (_r) => [approve(makeRequest(), "bob")], /is for request r-/],
    ["A1: an approval for R1 attached to R2 (same id claimed, other digest)", (r) => [approve(r, "bob", { digest: requestDigest(makeRequest().request) })], /different version of this request/],
    ["A2: signed with namespace git", (r) => [approve(r, "bob", { namespace: "git" })], /does not verify.*namespace git/],
    ["A2: signed with the request namespace", (r) => [approve(r, "bob", { namespace: SIG_NAMESPACE.request })], /does not verify/],
    ["A3: signed with a key not in the policy", (r) => [approve(r, "bob", { key: K.outsider })], /does not verify with any key the current policy lists for bob/],
    ["A3: bob's name, carol's key", (r) => [approve(r, "bob", { key: K.carol })], /does not verify with any key the current policy lists for bob/],
    ["A3: a principal the policy does not know", (r) => [approve(r, "mallory", { key: K.outsider })], /mallory is not a principal in the current policy/],
    ["A3: a principal named like an Object property", (r) => [approve(r, "constructor", { key: K.outsider })], /constructor is not a principal/],
    ["A10: dated 10 minutes in the future of the store clock", (r) => [approve(r, "bob", { at: T0 + 12 * MIN })], /in the future of the store clock/],
    ["A10: dated before the request existed", (r) => [approve(r, "bob", { at: T0 - 60 * MIN })], /before the request was created/],
    ["a principal outside the required group", (r) => [approve(r, "dave")], /dave is not in any group the request needs approvals from \(sre\)/],
    ["an acknowledgement is not an approval", (r) => [approve(r, "bob", { decision: "acknowledge" })], /did not break glass/],
    ["T1: a principal name no policy could hold (a screen-clearing sequence) makes the approval malformed", (r) => [approve(r, "\x1b[2Jbob", { key: K.outsider })], /^approval record is malformed: statement\.principal/],
    ["the verifier throwing counts as not verifying", (r) => [approve(r, "bob")], /verification failed: boom/, { verify: () => { throw new Error("boom"); } }],
  ])("%s → ignored, and why", (_name, approvals, why, over) => {
    const r = makeRequest();
    const a = assess(r, approvals(r), over);
    expect(a.status).toBe("pending");
    expect(a.requirements[0]!.approvedBy).toEqual([]);
    expect(a.ignored).toHaveLength(1);
    expect(a.ignored[0]!.why).toMatch(why);
    expect(a.ignored[0]!.why).not.toMatch(/\x1b/);
  });

  it("A10: an approval dated within the 5-minute skew tolerance counts", () => {
    const r = makeRequest();
    expect(assess(r, [approve(r, "bob", { at: T0 + 6 * MIN })]).status).toBe("approved");
  });

  it("A7: an alias key — a second principal holding the requester's key — is still the requester", () => {
    const policy = basePolicy();
    policy.principals["alice-ops"] = { name: "alice-ops", keys: [K.alice], groups: ["sre"] };
    const r = makeRequest();
    const a = assess(r, [approve(r, "alice-ops", { key: K.alice })], { policy });
    expect(a.status).toBe("pending");
    expect(a.ignored[0]!.why).toMatch(/alice-ops is the requester/);
    expect(a.requirements[0]!.eligible).not.toContain("alice-ops");
  });

  it("A5: one person, two keys, two approvals counts once", () => {
    const r = makeRequest({ rules: ["two-anyone"] });
    const a = assess(r, [approve(r, "bob", { key: K.bob }), approve(r, "bob", { key: K.bob2 })]);
    expect(a.status).toBe("pending");
    expect(a.requirements[0]).toMatchObject({ approvedBy: ["bob"], needed: 2, met: false });
    expect(a.ignored[0]!.why).toMatch(/bob is already counted: thresholds count distinct people/);
  });

  it("A6: the same approval twice, and the same statement re-armored, count once", () => {
    const r = makeRequest({ rules: ["two-anyone"] });
    const one = approve(r, "bob");
    const rearmored: SignedApproval = { statement: one.statement, signature: sign(K.bob, SIG_NAMESPACE.approval, approvalMessage(one.statement)) };
    const a = assess(r, [one, one, rearmored]);
    expect(a.requirements[0]!.approvedBy).toEqual(["bob"]);
    expect(a.ignored).toHaveLength(2);
    expect(a.status).toBe("pending");
  });

  it("two distinct principals meet a threshold of two", () => {
    const r = makeRequest({ rules: ["two-anyone"] });
    expect(assess(r, [approve(r, "bob"), approve(r, "dave")]).status).toBe("approved");
  });

  it("every requirement must be met at once (AND), and one approval counts for each group it belongs to", () => {
    const r = makeRequest({ rules: ["purge-needs-an-sre", "two-dbas"] });
    const onlySre = assess(r, [approve(r, "erin")]);
    expect(onlySre.status).toBe("pending");
    expect(onlySre.requirements.map((x) => x.met)).toEqual([true, false]);
    const bobAndCarol = assess(r, [approve(r, "bob"), approve(r, "carol")]);
    expect(bobAndCarol.requirements.map((x) => x.approvedBy)).toEqual([["bob"], ["bob", "carol"]]);
    expect(bobAndCarol.status).toBe("approved");
  });

  it("A9: an approval of the request before it was edited does not count for the edited one (per field)", () => {
    const edits: Array<[string, (r: GuardRequest) => void]> = [
      ["args", (r) => r.argv.push("--no-dry-run")],
      ["environment", (r) => (r.environment.name = "staging")],
      ["script", (r) => (r.program.sha256 = "f".repeat(64))],
      ["policy", (r) => (r.policyDigest = "c".repeat(64))],
    ];
    for (const [field, edit] of edits) {
      const original = makeRequest();
      const edited = structuredClone(original.request);
      edit(edited);
      const resigned: SignedRequest = { request: edited, signature: sign(K.alice, SIG_NAMESPACE.request, requestMessage(edited)) };
      const a = assess(resigned, [approve(original, "bob")]);
      expect(a.status, field).not.toBe("approved");
      expect(a.ignored[0]!.why, field).toMatch(/different version of this request/);
    }
  });
});

describe("assessRequest: the request itself", () => {
  it("S1: a store-edited request (extended expiry) fails its signature and approvals never count", () => {
    const r = makeRequest();
    const approval = approve(r, "bob");
    const edited: SignedRequest = { request: { ...r.request, expiresAt: "2026-03-01T12:00:00.000Z" }, signature: r.signature };
    const a = assess(edited, [approval]);
    expect(a.requestValid).toBe(false);
    expect(a.problems.join("\n")).toMatch(/request signature does not verify/);
    expect(a.status).not.toBe("approved");
  });

  it("S1: a store-edited argv fails the signature", () => {
    const r = makeRequest();
    const edited: SignedRequest = { request: { ...r.request, argv: ["scripts/purge-lb-state.sh"] }, signature: r.signature };
    expect(assess(edited, []).problems.join("\n")).toMatch(/request signature does not verify/);
  });

  it("S2: a malformed request record is invalid, with the field named", () => {
    const r = makeRequest();
    const broken = { request: { ...r.request, argv: "rm -rf /" }, signature: r.signature } as unknown as SignedRequest;
    const a = assess(broken, [approve(r, "bob")]);
    expect(a).toMatchObject({ requestValid: false, status: "pending" });
    expect(a.problems[0]).toBe("request record is malformed: argv");
    expect(a.ignored[0]!.why).toMatch(/malformed/);
  });

  it("A2: a request signed with the approval namespace is invalid", () => {
    const r = makeRequest();
    const wrongNs: SignedRequest = { request: r.request, signature: sign(K.alice, SIG_NAMESPACE.approval, requestMessage(r.request)) };
    expect(assess(wrongNs, []).requestValid).toBe(false);
  });

  it("A3: a request signed by a key the requester's principal does not hold is invalid", () => {
    const r = makeRequest({ key: K.outsider });
    const a = assess(r, [approve(r, "bob")]);
    expect(a.requestValid).toBe(false);
    expect(a.status).toBe("pending");
    expect(a.ignored[0]!.why).toBe("the request itself is invalid");
  });

  it("A13: a requester removed from the policy makes the request invalid", () => {
    const policy = basePolicy();
    delete policy.principals.alice;
    const r = makeRequest();
    expect(assess(r, [approve(r, "bob")], { policy }).problems.join("\n")).toMatch(/requester alice is not a principal in the current policy/);
  });

  it("A10: a lifetime longer than the policy allows is invalid (requester-signed, so the signature is fine)", () => {
    const r = makeRequest({ edit: (req) => (req.expiresAt = "2026-03-09T10:00:00.000Z") });
    const a = assess(r, [approve(r, "bob")]);
    expect(a.requestValid).toBe(false);
    expect(a.problems.join("\n")).toMatch(/longer than the policy allows \(1800 s\)/);
    expect(a.status).toBe("pending");
  });

  it("A10: the policy's shorter ttl caps the lifetime (a request re-signed with a longer one is invalid)", () => {
    const r = makeRequest({ edit: (req) => (req.expiresAt = new Date(Date.parse(req.createdAt) + 3600_000).toISOString()) });
    expect(assess(r, [approve(r, "bob")]).problems.join("\n")).toMatch(/longer than the policy allows \(1800 s\)/);
  });

  it("a policy change voids the request: its approvals no longer count, whatever the new rules say", () => {
    const policy = { ...basePolicy(), digest: "c".repeat(64) };
    policy.rules[0] = requireRule("purge-needs-an-sre", 1, ["sre"], 600);
    const r = makeRequest();
    const a = assess(r, [approve(r, "bob")], { policy });
    expect(a.status).toBe("void");
    expect(a.requirements[0]!.met).toBe(false);
    expect(a.ignored[0]).toMatchObject({ code: "request-void" });
  });

  it("A10/A11: a request dated in the future of the store clock is invalid", () => {
    const r = makeRequest({ now: T0 + 60 * MIN });
    expect(assess(r, []).problems.join("\n")).toMatch(/in the future of the store clock/);
  });

  it("an unregistered requester key is accepted for an unprotected environment only", () => {
    const staging = makeRequest({ by: null, key: K.outsider, env: "staging", rules: [] });
    // Valid, but never "approved" by an empty list of requirements (such a run needs no request at all).
    expect(assess(staging, [])).toMatchObject({ requestValid: true, status: "pending", requirements: [] });
    const prod = makeRequest({ by: null, key: K.outsider });
    expect(assess(prod, []).problems.join("\n")).toMatch(/only for unprotected environments/);
  });

  it("an unregistered requester whose key line does not match its fingerprint is invalid", () => {
    const r = makeRequest({ by: null, key: K.outsider, env: "staging", rules: [], edit: (req) => (req.requester.fingerprint = K.bob.fingerprint) });
    expect(assess(r, []).problems.join("\n")).toMatch(/does not match its fingerprint/);
  });

  it("an environment the current policy does not know is treated as protected", () => {
    const r = makeRequest({ by: null, key: K.outsider, env: "prod-eu", rules: [], edit: (req) => (req.environment.protected = false) });
    expect(assess(r, []).requestValid).toBe(false);
  });

  it("a protected request stripped of its requirements by the requester is invalid", () => {
    const r = makeRequest({ rules: [], edit: (req) => (req.rules = []) });
    const a = assess(r, [approve(r, "bob")]);
    expect(a.requestValid).toBe(false);
    expect(a.status).not.toBe("approved");
    expect(a.problems.join("\n")).toMatch(/carries no approval requirement/);
  });

  it("R1: requirements are derived from the policy, never taken from the request (forged claims are invalid)", () => {
    // The requester re-signs their request claiming a weaker rule set: a made-up rule, one approval from anyone.
    const r = makeRequest({
      rules: ["purge-needs-an-sre", "two-dbas"],
      edit: (req) => {
        req.rules = ["fast-track"];
        req.requirements = [{ rule: "fast-track", approvals: 1, from: null, reason: false, confirm: false, ttlSeconds: 7 * 24 * 3600 }];
        req.expiresAt = new Date(Date.parse(req.createdAt) + 7 * 24 * 3600_000).toISOString();
      },
    });
    const a = assess(r, [approve(r, "dave")]);
    expect(a.status).not.toBe("approved");
    expect(a.requestValid).toBe(false);
    expect(a.claims).toEqual(["rules", "requirements"]);
    expect(a.problems.join("\n")).toMatch(/forged or edited after signing/);
    // What is enforced is the derivation: SRE and two DBAs.
    expect(a.requirements.map((x) => [x.requirement.rule, x.needed, x.requirement.from])).toEqual([
      ["purge-needs-an-sre", 1, ["sre"]],
      ["two-dbas", 2, ["dba"]],
    ]);
    expect(a.ignored[0]).toMatchObject({ code: "request-invalid" });
  });

  it.each<[string, (req: GuardRequest) => void]>([
    ["R1: one rule of two dropped", (req) => { req.rules.pop(); req.requirements.pop(); }],
    ["R1: a lower count", (req) => { req.requirements[1]!.approvals = 1; }],
    ["R1: wider groups", (req) => { req.requirements[1]!.from = null; }],
    ["R1: no reason needed", (req) => { req.requirements[0]!.reason = false; }],
    ["R1: a longer ttl", (req) => { req.requirements[0]!.ttlSeconds = 3600; }],
    ["R1: an extra, stricter rule (a claim is still a claim)", (req) => { req.rules.push("two-anyone"); }],
    ["R1: an unprotected claim for a protected environment", (req) => { req.environment.protected = false; }],
  ])("%s is invalid", (_name, edit) => {
    const r = makeRequest({ rules: ["purge-needs-an-sre", "two-dbas"], edit });
    const a = assess(r, [approve(r, "bob"), approve(r, "carol")]);
    expect(a.requestValid).toBe(false);
    expect(a.status).toBe("pending");
  });

  it("R2: a break-glass flag never makes a request approved, even with empty rules and requirements", () => {
    const r = makeRequest({ rules: [], breakGlass: true, edit: (req) => { req.rules = []; req.requirements = []; } });
    const a = assess(r, [approve(r, "bob")]);
    expect(a.status).toBe("pending");
    expect(a.requirements).toEqual([]);
  });

  it("R2: a genuine break-glass record is never approved by approvals either", () => {
    const r = makeRequest({ breakGlass: true });
    const a = assess(r, [approve(r, "bob")]);
    expect(a.requestValid).toBe(true);
    expect(a.status).toBe("pending");
    expect(a.ignored[0]).toMatchObject({ code: "break-glass-run" });
  });

  it("A13: the current policy's groups decide who may approve (a group change is a policy change)", () => {
    const r = makeRequest();
    const a = assess(r, [approve(r, "carol")]);
    expect(a.status).toBe("pending");
    expect(a.ignored[0]).toMatchObject({ code: "not-eligible" });
    expect(assess(r, [approve(r, "erin")]).status).toBe("approved");
  });

  it("a required reason that is missing makes the request invalid", () => {
    const r = makeRequest({ reason: "  " });
    expect(assess(r, [approve(r, "bob")]).problems.join("\n")).toMatch(/a reason is required/);
  });
});

describe("assessRequest: A13, revocation after signing", () => {
  it("an approver removed from the policy no longer counts", () => {
    const r = makeRequest();
    const approval = approve(r, "bob");
    const policy = basePolicy();
    delete policy.principals.bob;
    const a = assess(r, [approval], { policy });
    expect(a.status).toBe("pending");
    expect(a.ignored[0]!.why).toMatch(/bob is not a principal in the current policy/);
  });

  it("an approver whose signing key was revoked no longer counts", () => {
    const r = makeRequest();
    const approval = approve(r, "bob", { key: K.bob2 });
    const policy = basePolicy();
    policy.principals.bob!.keys = [K.bob];
    expect(assess(r, [approval], { policy }).ignored[0]!.why).toMatch(/does not verify/);
  });

  it("an approver who left the required group no longer counts", () => {
    const r = makeRequest();
    const approval = approve(r, "erin");
    const policy = basePolicy();
    policy.principals.erin!.groups = ["dev"];
    expect(assess(r, [approval], { policy }).status).toBe("pending");
  });
});

describe("assessRequest: denials, acknowledgements and status", () => {
  it("a deny from an eligible principal denies the request, with the comment", () => {
    const r = makeRequest();
    const a = assess(r, [approve(r, "bob"), approve(r, "erin", { decision: "deny", comment: "wrong region" })]);
    expect(a.status).toBe("denied");
    expect(a.deniedBy).toEqual([{ principal: "erin", comment: "wrong region" }]);
  });

  it("a deny from a principal outside the required groups is ignored", () => {
    const r = makeRequest();
    const a = assess(r, [approve(r, "dave", { decision: "deny" })]);
    expect(a.status).toBe("pending");
    expect(a.ignored[0]!.why).toMatch(/not in a group that decides on this request/);
  });

  it("the requester may withdraw their own request with a deny", () => {
    const r = makeRequest();
    expect(assess(r, [approve(r, "alice", { decision: "deny" })]).status).toBe("denied");
  });

  it("a deny that does not verify is ignored", () => {
    const r = makeRequest();
    expect(assess(r, [approve(r, "erin", { decision: "deny", key: K.outsider })]).status).toBe("pending");
  });

  it.each([
    ["consumed beats denied", { consumed: true }, ["bob", "deny"], "consumed"],
    ["denied beats expired", { now: T0 + 31 * MIN }, ["erin", "deny"], "denied"],
    ["A10: expired beats approved", { now: T0 + 31 * MIN }, ["bob", "approve"], "expired"],
    ["A8: an approved request once consumed is consumed", { consumed: true }, ["bob", "approve"], "consumed"],
    ["approved before expiry", { now: T0 + 29 * MIN }, ["bob", "approve"], "approved"],
  ] as const)("%s", (_name, over, [who, decision], status) => {
    const r = makeRequest();
    expect(assess(r, [approve(r, who, { decision })], over).status).toBe(status);
  });

  it("A10: an expired request counts no approvals and says so", () => {
    const r = makeRequest();
    const a = assess(r, [approve(r, "bob")], { now: T0 + 30 * MIN });
    expect(a.requirements[0]!.met).toBe(false);
    expect(a.ignored[0]!.why).toMatch(/the request expired at 2026-03-01T10:30:00.000Z/);
  });

  it("A14: a break-glass run is acknowledged by a second person in a break_glass group", () => {
    const r = makeRequest({ breakGlass: true });
    const a = assess(r, [
      approve(r, "bob", { decision: "acknowledge" }),
      approve(r, "carol", { decision: "acknowledge" }),
      approve(r, "alice", { decision: "acknowledge" }),
    ], { now: T0 + 3 * 24 * 60 * MIN });
    expect(a.requestValid).toBe(true);
    expect(a.acknowledgedBy).toEqual(["bob"]);
    expect(a.ignored.map((i) => i.why)).toEqual([
      expect.stringMatching(/carol is not in a break_glass group/),
      expect.stringMatching(/alice is the requester/),
    ]);
  });

  it.each<[string, RequestOptions, RegExp]>([
    ["A14: without a reason", { breakGlass: true, reason: null, rules: [] }, /break-glass requires a reason/],
    ["A14: by someone outside the break_glass groups", { breakGlass: true, by: "carol", key: K.carol }, /not in a break_glass group/],
    ["A14: in an environment break-glass does not cover", { breakGlass: true, env: "staging" }, /break-glass is not allowed for staging/],
  ])("%s is invalid", (_name, o, problem) => {
    const r = makeRequest({ ...o, rules: o.env === "staging" || o.reason === null ? [] : ["purge-needs-an-sre"] });
    expect(assess(r, []).problems.join("\n")).toMatch(problem);
  });

  it("A14: break-glass is invalid when the policy has no break_glass section", () => {
    const policy = basePolicy();
    delete policy.breakGlass;
    const r = makeRequest({ breakGlass: true });
    expect(assess(r, [], { policy }).problems.join("\n")).toMatch(/no break_glass section/);
  });
});

describe("assessRequest: properties", () => {
  const names = ["alice", "bob", "carol", "dave", "erin"] as const;
  const keysOf: Record<string, PublicKey[]> = { alice: [K.alice], bob: [K.bob, K.bob2], carol: [K.carol], dave: [K.dave], erin: [K.erin] };

  it("A5/A6/A7: approvedBy never exceeds the distinct eligible principals, never repeats, never holds the requester", () => {
    const r = makeRequest({ rules: ["purge-needs-an-sre", "two-dbas", "two-anyone"] });
    const approvalArb = fc.record({
      who: fc.constantFrom(...names),
      keyIndex: fc.nat(1),
      decision: fc.constantFrom("approve", "approve", "approve", "acknowledge"),
      wrongKey: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(approvalArb, { maxLength: 12 }), (list) => {
        const approvals = list.map((x) => {
          const keys = keysOf[x.who]!;
          const key = x.wrongKey ? K.outsider : keys[x.keyIndex % keys.length]!;
          return approve(r, x.who, { key, decision: x.decision as ApprovalStatement["decision"] });
        });
        const a = assess(r, approvals);
        const policy = basePolicy();
        for (const req of a.requirements) {
          const eligible = Object.values(policy.principals).filter(
            (p) => p.name !== "alice" && (req.requirement.from === null || p.groups.some((g) => req.requirement.from!.includes(g))),
          );
          expect(req.approvedBy.length).toBeLessThanOrEqual(eligible.length);
          expect(new Set(req.approvedBy).size).toBe(req.approvedBy.length);
          expect(req.approvedBy).not.toContain("alice");
          expect(req.eligible).not.toContain("alice");
        }
        // Every statement either counted for someone, or is reported with a reason.
        const countedPeople = new Set(a.requirements.flatMap((x) => x.approvedBy));
        expect(a.ignored.length).toBeGreaterThanOrEqual(approvals.length - countedPeople.size - a.acknowledgedBy.length);
      }),
      { numRuns: 200 },
    );
  });
});

describe("mayDecide: who may record what, from the one assessment", () => {
  const policy = basePolicy();
  const me = (n: string) => policy.principals[n];
  type Row = [string, () => { r: SignedRequest; approvals?: SignedApproval[]; over?: Partial<AssessInput> }, string | undefined, "approve" | "deny", string];
  it.each<Row>([
    ["an SRE approves a pending purge", () => ({ r: makeRequest() }), "bob", "approve", "ok:approve"],
    ["a DBA may not approve an SRE-only purge", () => ({ r: makeRequest() }), "carol", "approve", "not-eligible"],
    ["the requester may not approve", () => ({ r: makeRequest() }), "alice", "approve", "requester"],
    ["the requester may withdraw (deny)", () => ({ r: makeRequest() }), "alice", "deny", "ok:deny"],
    ["someone outside the policy", () => ({ r: makeRequest() }), undefined, "approve", "not-principal"],
    ["a forged request", () => ({ r: makeRequest({ edit: (q) => (q.requirements[0]!.from = null) }) }), "dave", "approve", "invalid"],
    ["a consumed request", () => ({ r: makeRequest(), over: { consumed: true } }), "bob", "approve", "closed"],
    ["a void request", () => ({ r: makeRequest(), over: { policy: { ...basePolicy(), digest: "c".repeat(64) } } }), "bob", "approve", "void"],
    ["approve on a break-glass run is its review", () => ({ r: makeRequest({ breakGlass: true }) }), "erin", "approve", "ok:acknowledge"],
    ["a review needs a break_glass group", () => ({ r: makeRequest({ breakGlass: true }) }), "carol", "approve", "not-break-glass-group"],
    ["a frozen run is not approved", () => ({ r: makeRequest(), over: { policy: { ...basePolicy(), freezes: [{ name: "year-end", environments: ["production"], from: T0, until: T0 + 86400_000, reason: "freeze" }] } } }), "bob", "approve", "policy-denies"],
  ])("%s", (_name, make, who, verb, expected) => {
    const { r, approvals = [], over = {} } = make();
    const a = assess(r, approvals, over);
    const v = mayDecide(a, r.request, over.policy ?? policy, who === undefined ? undefined : me(who), who === undefined ? K.outsider.fingerprint : K[who as keyof typeof K].fingerprint, verb);
    expect(v.ok ? `ok:${v.decision}` : v.code).toBe(expected);
  });
});

describe("unapprovable: a request nobody else could approve is refused before it exists", () => {
  const req = (rule: string) => requirementOf(basePolicy(), rule);
  it.each<[string, string, string | null, string, string | null]>([
    ["an SRE purge by alice: bob and erin can approve", "purge-needs-an-sre", "alice", K.alice.fingerprint, null],
    ["two DBAs for carol: only bob is left", "two-dbas", "carol", K.carol.fingerprint, "two-dbas:bob"],
    ["two DBAs for alice: bob and carol", "two-dbas", "alice", K.alice.fingerprint, null],
    ["an alias key: bob's second key held by an outsider principal still counts as bob", "two-dbas", null, K.bob2.fingerprint, "two-dbas:carol"],
  ])("%s", (_name, rule, principal, fingerprint, expected) => {
    const r = unapprovable(basePolicy(), [req(rule)], principal, fingerprint);
    expect(r === null ? null : `${r.requirement.rule}:${r.eligible.join(",")}`).toBe(expected);
  });
});
