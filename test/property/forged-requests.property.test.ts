/**
 * R1/R2 as a property: a requester re-signs their own request after any random edit of what it claims —
 * rules, requirements (counts, groups, names, lifetimes), break-glass, protection, the environment's name
 * — and any people approve it. Whatever the edit, the request is never "approved" unless the approvals
 * meet every requirement the CURRENT policy derives for the invocation it binds: enough distinct people,
 * each from a required group, never the requester.
 */
import { createHash, randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type VerifyFn, assessRequest } from "../../src/core/approvals.js";
import { deriveDecision } from "../../src/core/derive.js";
import { newRequestId } from "../../src/core/ids.js";
import { approvalMessage, buildRequest, requestDigest, requestMessage } from "../../src/core/request.js";
import { SIG_NAMESPACE } from "../../src/core/types.js";
import type { GuardRequest, Policy, PublicKey, Requirement, SignedApproval, SignedRequest } from "../../src/core/types.js";

// A signature table stands in for SSHSIG (it has its own tests, and the e2e forging test uses ssh-keygen).
const table = new Map<string, { blob: string; namespace: string; message: string }>();
let counter = 0;
const sign = (key: PublicKey, namespace: string, message: string): string => {
  const sig = `sig-${++counter}`;
  table.set(sig, { blob: key.blob, namespace, message });
  return sig;
};
const verify: VerifyFn = (armored, message, namespace, keys) => {
  const e = table.get(armored);
  if (!e || e.namespace !== namespace || e.message !== message) return { ok: false, reason: "does not verify" };
  const key = keys.find((k) => k.blob === e.blob);
  return key ? { ok: true, key } : { ok: false, reason: "not an allowed key" };
};
function newKey(): PublicKey {
  const raw = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from("ssh-ed25519"), Buffer.from([0, 0, 0, 32]), randomBytes(32)]);
  return { type: "ssh-ed25519", blob: raw.toString("base64"), fingerprint: `SHA256:${createHash("sha256").update(raw).digest("base64").replace(/=+$/, "")}` };
}

const PEOPLE = { alice: ["sre"], bob: ["sre", "dba"], carol: ["dba"], dave: ["dev"], erin: ["sre"], frank: ["dev", "dba"] } as const;
type Name = keyof typeof PEOPLE;
const NAMES = Object.keys(PEOPLE) as Name[];
const KEYS = Object.fromEntries(NAMES.map((n) => [n, newKey()])) as Record<Name, PublicKey>;
const T0 = Date.parse("2026-06-01T09:00:00.000Z");

const POLICY: Policy = {
  version: 1,
  environments: {
    production: { name: "production", protected: true, aliases: [], detect: [] },
    staging: { name: "staging", protected: false, aliases: [], detect: [] },
  },
  principals: Object.fromEntries(NAMES.map((n) => [n, { name: n, keys: [KEYS[n]], groups: [...PEOPLE[n]] }])),
  rules: [
    { name: "purge-needs-an-sre", match: { environments: ["production"], commands: ["scripts/purge-*.sh"] }, effect: { type: "require", approvals: 1, from: ["sre"], reason: true, confirm: true, ttlSeconds: 1800 } },
    { name: "all-regions-needs-two-dbas", match: { environments: ["production"], commands: ["scripts/purge-*.sh"], args: ["--all-regions"] }, effect: { type: "require", approvals: 2, from: ["dba"], reason: true, confirm: false, ttlSeconds: 3600 } },
    { name: "fast-track", match: { environments: ["staging"] }, effect: { type: "require", approvals: 1, from: null, reason: false, confirm: false, ttlSeconds: 7 * 86400 } },
  ],
  freezes: [],
  breakGlass: { environments: ["production"], groups: ["sre"] },
  bindEnv: [],
  root: "/repo",
  digest: "d".repeat(64),
};

function genuine(allRegions: boolean): { signed: SignedRequest; demanded: Requirement[] } {
  const argv = ["scripts/purge-lb-state.sh", "--region", "eu", ...(allRegions ? ["--all-regions"] : [])];
  const proto = { argv, program: { path: "/repo/scripts/purge-lb-state.sh", sha256: "a".repeat(64), relative: "scripts/purge-lb-state.sh" } };
  const draft = { ...proto, environment: { name: "production", protected: true, evidence: [] } } as unknown as GuardRequest;
  const d = deriveDecision(POLICY, draft, T0);
  const request = buildRequest({
    id: newRequestId(randomBytes(16)),
    nonce: randomBytes(16).toString("hex"),
    requester: { principal: "alice", fingerprint: KEYS.alice.fingerprint, key: `${KEYS.alice.type} ${KEYS.alice.blob}` },
    ...proto,
    cwd: "/repo",
    environment: { name: "production", protected: true, evidence: [] },
    env: {},
    stdin: { kind: "tty" },
    reason: "INC-1",
    policyDigest: POLICY.digest,
    rules: d.rules,
    requirements: d.requirements,
    breakGlass: false,
    now: T0,
  });
  return { signed: { request, signature: sign(KEYS.alice, SIG_NAMESPACE.request, requestMessage(request)) }, demanded: d.requirements };
}

const requirementArb = fc.record({
  rule: fc.constantFrom("purge-needs-an-sre", "all-regions-needs-two-dbas", "fast-track", "made-up"),
  approvals: fc.integer({ min: 1, max: 3 }),
  from: fc.option(fc.subarray(["sre", "dba", "dev"], { minLength: 1 }), { nil: null }),
  reason: fc.boolean(),
  confirm: fc.boolean(),
  ttlSeconds: fc.constantFrom(60, 1800, 3600, 7 * 86400),
});

const editArb = fc.record({
  rules: fc.option(fc.subarray(["purge-needs-an-sre", "all-regions-needs-two-dbas", "fast-track", "made-up"]), { nil: undefined }),
  requirements: fc.option(fc.array(requirementArb, { maxLength: 3 }), { nil: undefined }),
  dropRequirement: fc.option(fc.nat(2), { nil: undefined }),
  breakGlass: fc.option(fc.boolean(), { nil: undefined }),
  unprotected: fc.boolean(),
  environment: fc.option(fc.constantFrom("production", "staging", "prod"), { nil: undefined }),
  lifetimeSeconds: fc.option(fc.constantFrom(600, 1800, 7 * 86400), { nil: undefined }),
});

describe("forged requests (property)", () => {
  it("R1/R2: no edit of the claims lets fewer approvals, or approvals from other groups, than the policy demands approve a run", () => {
    fc.assert(
      fc.property(fc.boolean(), editArb, fc.array(fc.constantFrom(...NAMES), { maxLength: 6 }), (allRegions, edit, approvers) => {
        const { signed, demanded } = genuine(allRegions);
        const req = structuredClone(signed.request);
        if (edit.rules !== undefined) req.rules = edit.rules;
        if (edit.requirements !== undefined) req.requirements = edit.requirements;
        if (edit.dropRequirement !== undefined) req.requirements.splice(edit.dropRequirement, 1);
        if (edit.breakGlass !== undefined) req.breakGlass = edit.breakGlass;
        if (edit.unprotected) req.environment.protected = false;
        if (edit.environment !== undefined) req.environment.name = edit.environment;
        if (edit.lifetimeSeconds !== undefined) req.expiresAt = new Date(T0 + edit.lifetimeSeconds * 1000).toISOString();
        const forged: SignedRequest = { request: req, signature: sign(KEYS.alice, SIG_NAMESPACE.request, requestMessage(req)) };
        const approvals: SignedApproval[] = approvers.map((who) => {
          const statement = {
            v: 1 as const, requestId: req.id, requestDigest: requestDigest(req), decision: "approve" as const, principal: who,
            fingerprint: KEYS[who].fingerprint, comment: null, createdAt: new Date(T0 + 60_000).toISOString(), nonce: randomBytes(16).toString("hex"),
          };
          return { statement, signature: sign(KEYS[who], SIG_NAMESPACE.approval, approvalMessage(statement)) };
        });
        const a = assessRequest({ signed: forged, approvals, consumed: false, policy: POLICY, now: T0 + 120_000, verify });
        if (a.status !== "approved") return;
        // Approved: the edit may only have been to the environment's NAME (checked at run time against the
        // real target) — and even then every demanded requirement of the real invocation must be met.
        const real = new Set(approvers.filter((n) => n !== "alice"));
        if (req.environment.name === "production") {
          for (const r of demanded) {
            const from = r.from;
            const eligible = [...real].filter((n) => from === null || PEOPLE[n].some((g) => from.includes(g)));
            expect(eligible.length).toBeGreaterThanOrEqual(r.approvals);
          }
        }
        expect(req.breakGlass).toBe(false);
      }),
      { numRuns: 800 },
    );
  });

  it("R1: a genuine request is approved exactly when the demanded approvals are there (the property is not vacuous)", () => {
    const { signed } = genuine(true);
    const approveBy = (who: Name): SignedApproval => {
      const statement = {
        v: 1 as const, requestId: signed.request.id, requestDigest: requestDigest(signed.request), decision: "approve" as const, principal: who,
        fingerprint: KEYS[who].fingerprint, comment: null, createdAt: new Date(T0 + 60_000).toISOString(), nonce: randomBytes(16).toString("hex"),
      };
      return { statement, signature: sign(KEYS[who], SIG_NAMESPACE.approval, approvalMessage(statement)) };
    };
    const at = { consumed: false, policy: POLICY, now: T0 + 120_000, verify };
    expect(assessRequest({ signed, approvals: [approveBy("erin"), approveBy("carol")], ...at }).status).toBe("pending");
    expect(assessRequest({ signed, approvals: [approveBy("erin"), approveBy("carol"), approveBy("frank")], ...at }).status).toBe("approved");
  });
});
