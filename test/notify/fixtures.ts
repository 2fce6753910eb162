/** A request and notification facts to build payloads from, with anything overridable. */
import type { NotificationFacts } from "../../src/core/notify.js";
import type { GuardRequest, Webhook } from "../../src/core/types.js";

export const ID = "r-abcdefghijklmnopqrst";
export const TIME = Date.parse("2026-11-27T10:00:00Z");

export function request(over: Partial<GuardRequest> = {}): GuardRequest {
  return {
    v: 1,
    id: ID,
    requester: { principal: "alice", fingerprint: "SHA256:AAAAalicefingerprint", key: "ssh-ed25519 AAAA" },
    argv: ["./maintenance/purge-lb-state.sh", "--region", "us-east-1"],
    program: { path: "/srv/repo/maintenance/purge-lb-state.sh", sha256: "0".repeat(64) },
    cwd: "/srv/repo",
    environment: { name: "production", protected: true, evidence: [] },
    env: {},
    stdin: { kind: "null" },
    reason: "INC-42 stale state",
    policyDigest: "1".repeat(64),
    rules: ["purge-needs-an-sre"],
    requirements: [],
    breakGlass: false,
    createdAt: "2026-11-27T09:59:00.000Z",
    expiresAt: "2026-11-27T10:29:00.000Z",
    nonce: "n",
    ...over,
  };
}

export function facts(over: Partial<NotificationFacts> = {}): NotificationFacts {
  return { event: "request.created", request: request(), status: "pending", host: "bastion-1", version: "0.1.0", time: TIME, ...over };
}

export function webhook(over: Partial<Webhook> = {}): Webhook {
  return {
    name: "ops",
    url: "https://hooks.example.com/services/T0/B0/secret",
    format: "json",
    events: ["request.created", "request.approved", "request.denied", "run.started", "run.finished", "breakglass.used"],
    environments: null,
    timeoutSeconds: 3,
    ...over,
  };
}
