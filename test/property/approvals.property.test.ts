/**
 * Property test of approval counting (A2, A3, A5, A6, A7, A13) with REAL signatures: real ssh-keygen
 * keys, genuine SSHSIG signatures (test/sshsig/forge.ts) and the real verifier. Random policies (who
 * holds which keys, who is in which group, an alias principal holding the requester's key), random
 * requirements, and random piles of statements (claimed principals, borrowed and outsider keys, wrong
 * namespaces, lying fingerprints, duplicates, re-armored copies, denials). An independent oracle says
 * which distinct people count; assessRequest must agree exactly — so no combination reaches a
 * threshold with fewer distinct, eligible people who are not the requester.
 *
 * (test/core/approvals.test.ts checks an upper bound with a signature table; this adds real crypto,
 * cross-principal keys, aliases, lying fingerprints and the exact count.)
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type VerifyFn, assessRequest } from "../../src/core/approvals.js";
import { approvalMessage, buildRequest, requestDigest, requestMessage } from "../../src/core/request.js";
import { parseSshSig, verifySshSig } from "../../src/core/sshsig.js";
import { SIG_NAMESPACE } from "../../src/core/types.js";
import type { ApprovalStatement, Policy, Principal, PublicKey, Requirement, SignedApproval, SignedRequest } from "../../src/core/types.js";
import { makeIdentity } from "../helpers/keys.js";
import { forgeSshSig, loadTestPrivateKey, type TestPrivateKey } from "../sshsig/forge.js";

const T0 = Date.parse("2026-03-01T10:00:00.000Z");
const NOW = T0 + 2 * 60_000;
const NAMES = ["alice", "bob", "carol", "dave", "erin"] as const;
const REQUESTER = "alice";
const POOL = 7; // keys 0..5 may be handed out; key 6 is never in the policy (an outsider)

let dir: string;
let pub: PublicKey[];
let priv: TestPrivateKey[];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "guard-approvals-prop-"));
  const ids = await Promise.all(Array.from({ length: POOL }, (_, i) => makeIdentity(dir, `k${i}`)));
  pub = ids.map((i) => i.key);
  priv = await Promise.all(ids.map((i) => loadTestPrivateKey(i.privatePath)));
}, 60_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const verify: VerifyFn = (armored, message, namespace, keys) => verifySshSig(armored, message, namespace, keys);

interface World {
  /** key indices per principal; alice's first key signs the request */
  holds: number[][];
  groups: string[][];
  /** a principal (not alice) who also lists alice's request key: an alias (A7) */
  alias: number | null;
  requirements: Array<{ approvals: number; from: string[] | null }>;
}

interface Stmt {
  claimed: number; // index into NAMES, or NAMES.length for "mallory"
  signer: number; // key index
  decision: ApprovalStatement["decision"];
  namespace: "approval" | "request" | "git";
  fingerprint: "signer" | "other";
  copies: "once" | "twice" | "rearmored";
}

const worldArb: fc.Arbitrary<World> = fc
  .record({
    // A permutation of the six policy keys, cut into five non-empty-or-empty hands; alice always has one.
    order: fc.shuffledSubarray([0, 1, 2, 3, 4, 5], { minLength: 6, maxLength: 6 }),
    cuts: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 5, maxLength: 5 }),
    groups: fc.array(fc.subarray(["sre", "dba"]), { minLength: 5, maxLength: 5 }),
    alias: fc.option(fc.integer({ min: 1, max: 4 }), { nil: null }),
    requirements: fc.array(
      fc.record({ approvals: fc.integer({ min: 1, max: 3 }), from: fc.option(fc.subarray(["sre", "dba"], { minLength: 1 }), { nil: null }) }),
      { minLength: 1, maxLength: 2 },
    ),
  })
  .map(({ order, cuts, groups, alias, requirements }) => {
    const holds: number[][] = [];
    let k = 0;
    for (let p = 0; p < NAMES.length; p++) {
      const n = p === 0 ? Math.max(1, cuts[p]!) : cuts[p]!;
      holds.push(order.slice(k, k + n));
      k += n;
    }
    if (alias !== null) holds[alias] = [...holds[alias]!, holds[0]![0]!];
    return { holds, groups, alias, requirements };
  });

const stmtArb: fc.Arbitrary<Stmt> = fc.record({
  claimed: fc.integer({ min: 0, max: NAMES.length }),
  signer: fc.integer({ min: 0, max: POOL - 1 }),
  decision: fc.constantFrom("approve", "approve", "approve", "approve", "deny", "acknowledge") as fc.Arbitrary<ApprovalStatement["decision"]>,
  namespace: fc.constantFrom("approval", "approval", "approval", "approval", "request", "git") as fc.Arbitrary<Stmt["namespace"]>,
  fingerprint: fc.constantFrom("signer", "signer", "signer", "other") as fc.Arbitrary<Stmt["fingerprint"]>,
  copies: fc.constantFrom("once", "once", "twice", "rearmored") as fc.Arbitrary<Stmt["copies"]>,
});

function policyOf(w: World): Policy {
  const principals: Record<string, Principal> = {};
  NAMES.forEach((name, i) => {
    principals[name] = { name, keys: w.holds[i]!.map((k) => pub[k]!), groups: w.groups[i]! };
  });
  return {
    version: 1,
    environments: { production: { name: "production", protected: true, aliases: [], detect: [] } },
    principals,
    rules: w.requirements.map((r, i) => ({
      name: `rule-${i}`,
      match: { environments: ["production"] },
      effect: { type: "require" as const, approvals: r.approvals, from: r.from, reason: false, confirm: false, ttlSeconds: 1800 },
    })),
    freezes: [],
    bindEnv: [],
    root: "/repo",
    digest: "d".repeat(64),
  };
}

function requestOf(w: World, policy: Policy): SignedRequest {
  const key = pub[w.holds[0]![0]!]!;
  const requirements: Requirement[] = policy.rules.map((r) => {
    if (r.effect.type !== "require") throw new Error("require rules only");
    const { approvals, from, reason, confirm, ttlSeconds } = r.effect;
    return { rule: r.name, approvals, from, reason, confirm, ttlSeconds };
  });
  const request = buildRequest({
    id: "r-abcdefghijklmnopqrst",
    nonce: randomBytes(16).toString("hex"),
    requester: { principal: REQUESTER, fingerprint: key.fingerprint, key: `${key.type} ${key.blob}` },
    argv: ["scripts/purge.sh", "--all"],
    program: { path: "/repo/scripts/purge.sh", sha256: "a".repeat(64) },
    cwd: "/repo",
    environment: { name: "production", protected: true, evidence: [] },
    env: {},
    stdin: { kind: "tty" },
    reason: "INC-1",
    policyDigest: policy.digest,
    rules: requirements.map((r) => r.rule),
    requirements,
    breakGlass: false,
    now: T0,
  });
  const signature = forgeSshSig(priv[w.holds[0]![0]!]!, { message: requestMessage(request), namespace: SIG_NAMESPACE.request });
  return { request, signature };
}

const NAMESPACES = { approval: SIG_NAMESPACE.approval, request: SIG_NAMESPACE.request, git: "git" };

function statementsOf(signed: SignedRequest, list: Stmt[]): SignedApproval[] {
  const out: SignedApproval[] = [];
  for (const s of list) {
    const principal = s.claimed < NAMES.length ? NAMES[s.claimed]! : "mallory";
    const fpKey = s.fingerprint === "signer" ? s.signer : (s.signer + 1) % POOL;
    const statement: ApprovalStatement = {
      v: 1,
      requestId: signed.request.id,
      requestDigest: requestDigest(signed.request),
      decision: s.decision,
      principal,
      fingerprint: pub[fpKey]!.fingerprint,
      comment: null,
      createdAt: new Date(T0 + 60_000).toISOString(),
      nonce: randomBytes(16).toString("hex"),
    };
    const signature = forgeSshSig(priv[s.signer]!, { message: approvalMessage(statement), namespace: NAMESPACES[s.namespace] });
    out.push({ statement, signature });
    if (s.copies === "twice") out.push({ statement, signature });
    if (s.copies === "rearmored") {
      const p = parseSshSig(signature);
      if (!p.ok) throw new Error(p.reason);
      const b64 = p.sig.blob.toString("base64").match(/.{1,64}/g)!.join("\r\n");
      out.push({ statement, signature: `\n-----BEGIN SSH SIGNATURE-----\r\n${b64}\r\n-----END SSH SIGNATURE-----\r\n` });
    }
  }
  return out;
}

/** Independently: which principals' statements are genuine, by the policy's own keys and rules. */
function oracle(w: World, list: Stmt[]): { approvedBy: string[][]; denied: boolean } {
  const requesterKey = w.holds[0]![0]!;
  const isRequester = (p: number, signer: number): boolean => p === 0 || w.holds[p]!.includes(requesterKey) || signer === requesterKey;
  const inGroups = (p: number, from: string[] | null): boolean => from === null || w.groups[p]!.some((g) => from.includes(g));
  const counted = w.requirements.map(() => new Set<string>());
  let denied = false;
  for (const s of list) {
    if (s.claimed >= NAMES.length) continue; // not a principal
    if (s.namespace !== "approval") continue; // A2
    if (!w.holds[s.claimed]!.includes(s.signer)) continue; // A3: not one of the claimed principal's keys
    const fpKey = s.fingerprint === "signer" ? s.signer : (s.signer + 1) % POOL;
    if (pub[fpKey]!.fingerprint !== pub[s.signer]!.fingerprint) continue; // names another key than it was signed with
    if (s.decision === "deny") {
      if (isRequester(s.claimed, s.signer) || w.requirements.some((r) => inGroups(s.claimed, r.from))) denied = true;
      continue;
    }
    if (s.decision !== "approve") continue; // an acknowledgement is not an approval
    if (isRequester(s.claimed, s.signer)) continue; // A7, including the alias
    w.requirements.forEach((r, i) => {
      if (inGroups(s.claimed, r.from)) counted[i]!.add(NAMES[s.claimed]!);
    });
  }
  return { approvedBy: counted.map((c) => [...c].sort()), denied };
}

describe("assessRequest with real signatures agrees with an independent oracle (property)", () => {
  it("A2/A3/A5/A6/A7: distinct eligible people, never keys, signatures or the requester, reach a threshold", () => {
    fc.assert(
      fc.property(worldArb, fc.array(stmtArb, { maxLength: 10 }), (w, list) => {
        const policy = policyOf(w);
        const signed = requestOf(w, policy);
        const a = assessRequest({ signed, approvals: statementsOf(signed, list), consumed: false, policy, now: NOW, verify });
        expect(a.requestValid, a.problems.join("; ")).toBe(true);
        const o = oracle(w, list);
        a.requirements.forEach((r, i) => {
          expect(r.approvedBy).toEqual(o.approvedBy[i]);
          expect(r.met).toBe(o.approvedBy[i]!.length >= w.requirements[i]!.approvals);
          expect(r.approvedBy).not.toContain(REQUESTER);
          if (w.alias !== null) expect(r.approvedBy).not.toContain(NAMES[w.alias]);
        });
        const expected = o.denied ? "denied" : a.requirements.every((r) => r.met) ? "approved" : "pending";
        expect(a.status).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });

  it("the generator is not vacuous: some piles approve, some stay pending, some are denied", () => {
    const seen = new Set<string>();
    for (const [w, list] of fc.sample(fc.tuple(worldArb, fc.array(stmtArb, { maxLength: 10 })), { numRuns: 200, seed: 3 })) {
      const policy = policyOf(w);
      const signed = requestOf(w, policy);
      seen.add(assessRequest({ signed, approvals: statementsOf(signed, list), consumed: false, policy, now: NOW, verify }).status);
    }
    expect([...seen].sort()).toEqual(["approved", "denied", "pending"]);
  });

  it("A6: one genuine approval in ten copies, re-armored or not, counts once", () => {
    const w: World = { holds: [[0], [1], [2], [3], [4]], groups: [["sre"], ["sre"], ["sre"], [], []], alias: null, requirements: [{ approvals: 2, from: ["sre"] }] };
    const policy = policyOf(w);
    const signed = requestOf(w, policy);
    const copies: Stmt[] = Array.from({ length: 10 }, (_, i) => ({ claimed: 1, signer: 1, decision: "approve", namespace: "approval", fingerprint: "signer", copies: i % 2 ? "rearmored" : "twice" }));
    const a = assessRequest({ signed, approvals: statementsOf(signed, copies), consumed: false, policy, now: NOW, verify });
    expect(a.requirements[0]!.approvedBy).toEqual(["bob"]);
    expect(a.status).toBe("pending");
  });
});
