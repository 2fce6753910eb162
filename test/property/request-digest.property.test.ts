/**
 * Property tests of request canonicalisation (A1, A9, C6, C7, S1), over generated requests rather than
 * the one fixed request test/core/request.test.ts mutates: equal requests have equal digests however
 * they were built, copied or key-ordered; any change of one field changes the digest; argv is encoded
 * so that no two different argument lists can collide (["a b"] vs ["a","b"], joins, empty strings); and
 * the same for what an approver signs.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { canonicalJson } from "../../src/core/canonical.js";
import { type BuildRequestInput, approvalMessage, buildRequest, requestDigest, requestMessage } from "../../src/core/request.js";
import type { ApprovalStatement, Evidence, GuardRequest } from "../../src/core/types.js";

const BLOB = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from("ssh-ed25519"), Buffer.from([0, 0, 0, 32]), Buffer.alloc(32, 7)]).toString("base64");
const FP = `SHA256:${createHash("sha256").update(Buffer.from(BLOB, "base64")).digest("base64").replace(/=+$/, "")}`;
const T0 = Date.parse("2026-03-01T10:00:00.000Z");

const hex64 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString("hex"));
const text = fc.string({ unit: "grapheme-composite", maxLength: 12 });
const idChars = "abcdefghijklmnopqrstuvwxyz234567";
const requestId = fc.array(fc.constantFrom(...idChars), { minLength: 20, maxLength: 20 }).map((c) => `r-${c.join("")}`);
const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/);

const evidence: fc.Arbitrary<Evidence> = fc.record({
  source: fc.constantFrom("declared", "env", "kube_context", "host", "arg", "argument", "default") as fc.Arbitrary<Evidence["source"]>,
  subject: text,
  value: text,
  environment: fc.option(name, { nil: null }),
  detail: text,
});

const input: fc.Arbitrary<BuildRequestInput> = fc.record({
  id: requestId,
  nonce: hex64,
  requester: fc.record({ principal: fc.option(name, { nil: null }), fingerprint: fc.constant(FP), key: fc.constant(`ssh-ed25519 ${BLOB}`) }),
  argv: fc.array(fc.string({ maxLength: 8 }), { minLength: 1, maxLength: 5 }),
  program: fc.record({ path: text.map((t) => `/srv/${t}`), sha256: hex64 }),
  cwd: text.map((t) => `/home/${t}`),
  environment: fc.record({ name, protected: fc.boolean(), evidence: fc.array(evidence, { maxLength: 3 }) }),
  env: fc.dictionary(fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,8}$/), fc.option(hex64.map((sha256) => ({ sha256, shown: "v" })), { nil: { sha256: null, shown: null } }), { maxKeys: 4 }),
  stdin: fc.constantFrom({ kind: "tty" as const }, { kind: "null" as const }),
  reason: fc.option(text, { nil: null }),
  policyDigest: hex64,
  rules: fc.array(name, { maxLength: 3 }),
  requirements: fc.array(
    fc.record({ rule: name, approvals: fc.integer({ min: 1, max: 5 }), from: fc.option(fc.array(name, { minLength: 1, maxLength: 2 }), { nil: null }), reason: fc.boolean(), confirm: fc.boolean(), ttlSeconds: fc.integer({ min: 60, max: 7 * 86400 }) }),
    { maxLength: 2 },
  ),
  breakGlass: fc.boolean(),
  now: fc.integer({ min: T0, max: T0 + 365 * 86400_000 }),
});

/** Rebuild an object with its keys in a shuffled order at every level (same content). */
function shuffleKeys(x: unknown, seed: number): unknown {
  if (Array.isArray(x)) return x.map((v, i) => shuffleKeys(v, seed + i));
  if (x === null || typeof x !== "object") return x;
  const entries = Object.entries(x as Record<string, unknown>);
  entries.sort((a, b) => ((a[0].length * 31 + seed) % 7) - ((b[0].length * 31 + seed) % 7) || (seed % 2 ? a[0].localeCompare(b[0]) : b[0].localeCompare(a[0])));
  return Object.fromEntries(entries.map(([k, v], i) => [k, shuffleKeys(v, seed + i)]));
}

/** One-field changes; each returns false when it happened to change nothing. */
const MUTATIONS: Array<[string, (r: GuardRequest, s: string) => void]> = [
  ["argv: one argument changed", (r, s) => (r.argv[r.argv.length - 1] = s)],
  ["argv: one argument appended", (r, s) => r.argv.push(s)],
  ["argv: two arguments swapped", (r) => r.argv.reverse()],
  ["argv: one argument dropped", (r) => void (r.argv.length > 1 && r.argv.pop())],
  ["program.path", (r, s) => (r.program.path = `/srv/${s}`)],
  ["program.sha256", (r) => (r.program.sha256 = r.program.sha256.split("").reverse().join(""))],
  ["cwd", (r, s) => (r.cwd = `/tmp/${s}`)],
  ["environment.name", (r, s) => (r.environment.name = `x${s}`)],
  ["environment.protected", (r) => (r.environment.protected = !r.environment.protected)],
  ["environment.evidence", (r, s) => r.environment.evidence.push({ source: "env", subject: s, value: s, environment: null, detail: "" })],
  ["env", (r, s) => (r.env[`X${s.length}_${r.argv.length}`] = { sha256: null, shown: null })],
  ["stdin", (r) => (r.stdin = { kind: r.stdin.kind === "tty" ? "null" : "tty" })],
  ["reason", (r, s) => (r.reason = r.reason === s ? null : s)],
  ["policyDigest", (r) => (r.policyDigest = r.policyDigest.split("").reverse().join(""))],
  ["rules", (r, s) => r.rules.push(`r${s.length}`)],
  ["requirements", (r) => r.requirements.push({ rule: "extra", approvals: 1, from: null, reason: false, confirm: false, ttlSeconds: 60 })],
  ["breakGlass", (r) => (r.breakGlass = !r.breakGlass)],
  ["createdAt", (r) => (r.createdAt = new Date(Date.parse(r.createdAt) + 1).toISOString())],
  ["expiresAt", (r) => (r.expiresAt = new Date(Date.parse(r.expiresAt) + 1000).toISOString())],
  ["nonce", (r) => (r.nonce = r.nonce.split("").reverse().join(""))],
  ["id", (r) => (r.id = `r-${r.id.slice(2).split("").reverse().join("")}`)],
  ["requester.principal", (r, s) => (r.requester.principal = r.requester.principal === null ? `p${s.length}` : null)],
];

describe("requestDigest over generated requests (property)", () => {
  it("A1: equal requests have equal digests, however they were built, copied or key-ordered", () => {
    fc.assert(
      fc.property(input, fc.nat(), (i, seed) => {
        const a = buildRequest(i);
        const b = buildRequest(structuredClone(i));
        const reordered = shuffleKeys(JSON.parse(JSON.stringify(a)), seed) as GuardRequest;
        expect(requestDigest(b)).toBe(requestDigest(a));
        expect(requestDigest(reordered)).toBe(requestDigest(a));
        expect(requestMessage(reordered)).toBe(requestMessage(a));
        // The digest is the SHA-256 of exactly the signed message.
        expect(requestDigest(a)).toBe(createHash("sha256").update(requestMessage(a)).digest("hex"));
      }),
      { numRuns: 200 },
    );
  });

  it("A9/S1: any one-field change changes the digest", () => {
    fc.assert(
      fc.property(input, fc.integer({ min: 0, max: MUTATIONS.length - 1 }), fc.string({ minLength: 1, maxLength: 6 }), (i, m, s) => {
        const base = buildRequest(i);
        const changed = structuredClone(base);
        MUTATIONS[m]![1](changed, s);
        fc.pre(canonicalJson(changed) !== canonicalJson(base));
        expect(requestDigest(changed), MUTATIONS[m]![0]).not.toBe(requestDigest(base));
      }),
      { numRuns: 500 },
    );
  });

  it("C6/C7: two different argument lists never share a digest, even when they join to the same text", () => {
    // Build b from a by splitting or merging arguments at a separator, so that a.join(sep) === b.join(sep).
    const pair = fc
      .tuple(fc.array(fc.string({ maxLength: 6 }), { minLength: 1, maxLength: 5 }), fc.constantFrom(" ", "", ",", "\0", "\n", '","'), fc.nat(), fc.boolean())
      .map(([a, sep, at, merge]) => {
        const b = [...a];
        const i = at % b.length;
        if (merge && b.length > 1 && i + 1 < b.length) b.splice(i, 2, `${b[i]}${sep}${b[i + 1]}`);
        else if (sep !== "") b.splice(i, 1, ...`${b[i]}${sep}x`.split(sep));
        else b.splice(i, 1, b[i]!, "");
        return { a, b, sep };
      });
    fc.assert(
      fc.property(input, pair, (i, { a, b }) => {
        fc.pre(JSON.stringify(a) !== JSON.stringify(b));
        expect(requestDigest(buildRequest({ ...i, argv: a }))).not.toBe(requestDigest(buildRequest({ ...i, argv: b })));
      }),
      { numRuns: 300 },
    );
  });
});

describe("approvalMessage (property)", () => {
  const statement: fc.Arbitrary<ApprovalStatement> = fc.record({
    v: fc.constant(1 as const),
    requestId,
    requestDigest: hex64,
    decision: fc.constantFrom("approve", "deny", "acknowledge") as fc.Arbitrary<ApprovalStatement["decision"]>,
    principal: name,
    fingerprint: fc.constant(FP),
    comment: fc.option(text, { nil: null }),
    createdAt: fc.integer({ min: T0, max: T0 + 86400_000 }).map((t) => new Date(t).toISOString()),
    nonce: hex64,
  });
  const FIELDS = ["requestId", "requestDigest", "decision", "principal", "comment", "createdAt", "nonce"] as const;

  it("A1/A6: equal statements sign the same bytes; any one-field change signs different bytes", () => {
    fc.assert(
      fc.property(statement, statement, fc.constantFrom(...FIELDS), fc.nat(), (st, other, field, seed) => {
        expect(approvalMessage(shuffleKeys(structuredClone(st), seed) as ApprovalStatement)).toBe(approvalMessage(st));
        const changed = { ...st, [field]: other[field] } as ApprovalStatement;
        fc.pre(changed[field] !== st[field]);
        expect(approvalMessage(changed)).not.toBe(approvalMessage(st));
      }),
      { numRuns: 300 },
    );
  });
});
