import { randomBytes } from "node:crypto";
import type { AuditDraft, Consumption, SignedApproval, SignedRequest } from "../../src/core/types.js";

/**
 * Records with the right shape for store tests. Stores never check signatures, so the signature
 * fields are opaque placeholders here; the commands' own tests use real SSHSIG signatures.
 */

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";

/** A fresh random request id matching REQUEST_ID_RE. */
export function newId(): string {
  const bytes = randomBytes(20);
  let id = "r-";
  for (const b of bytes) id += BASE32[b & 31];
  return id;
}

export function makeRequest(id: string = newId(), createdAt: Date = new Date()): SignedRequest {
  return {
    request: {
      v: 1,
      id,
      requester: { principal: "alice", fingerprint: "SHA256:alicekeyfingerprint", key: "ssh-ed25519 AAAAC3Nza alice" },
      argv: ["./scripts/purge-lb-state.sh", "--region", "us-east-1"],
      program: { path: "/srv/ops/scripts/purge-lb-state.sh", sha256: "ab".repeat(32) },
      cwd: "/srv/ops",
      environment: {
        name: "production",
        protected: true,
        evidence: [{ source: "env", subject: "DATABASE_URL", value: "postgres://prod-db.internal/elb", environment: "production", detail: 'DATABASE_URL matches "*prod-db.*"' }],
      },
      env: { DATABASE_URL: { sha256: "cd".repeat(32), shown: "postgres://prod-db.internal/elb" } },
      stdin: { kind: "tty" },
      reason: "INC-1234: purge stale state",
      policyDigest: "ef".repeat(32),
      rules: ["purge-needs-an-sre"],
      requirements: [{ rule: "purge-needs-an-sre", approvals: 1, from: ["sre"], reason: true, confirm: true, ttlSeconds: 1800 }],
      breakGlass: false,
      createdAt: createdAt.toISOString(),
      expiresAt: new Date(createdAt.getTime() + 1_800_000).toISOString(),
      nonce: randomBytes(16).toString("hex"),
    },
    signature: "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n",
  };
}

export function makeApproval(requestId: string, principal = "bob", decision: "approve" | "deny" = "approve"): SignedApproval {
  return {
    statement: {
      v: 1,
      requestId,
      requestDigest: "12".repeat(32),
      decision,
      principal,
      fingerprint: `SHA256:${principal}keyfingerprint`,
      comment: null,
      createdAt: new Date().toISOString(),
      nonce: randomBytes(16).toString("hex"),
    },
    signature: "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n",
  };
}

export function makeConsumption(requestId: string, pid = 4242): Consumption {
  return {
    requestId,
    requestDigest: "12".repeat(32),
    consumedAt: new Date().toISOString(),
    by: { principal: "alice", fingerprint: "SHA256:alicekeyfingerprint" },
    host: "bastion-1",
    pid,
  };
}

export function makeDraft(n: number, type = "policy.error"): AuditDraft {
  return { type, actor: { principal: "alice", fingerprint: "SHA256:alicekeyfingerprint", user: "alice" }, data: { message: `event number ${n}` } };
}
