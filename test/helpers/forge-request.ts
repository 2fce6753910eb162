/**
 * The attacker of SECURITY R1–R4, as a tool: a requester who can also write the store (every requester
 * can, on the file store; every guard_user on PostgreSQL). They take one of their own genuine requests,
 * edit any field, re-sign it with their OWN key through real `ssh-keygen -Y sign` (the signature is
 * genuine: it is their request), and store the copy under a new id through the store's own client — the
 * same writes guard makes. Approvals can be planted the same way, signed by whoever's key is given.
 */
import { randomBytes } from "node:crypto";
import { openStore } from "../../src/adapters/store/open.js";
import { newNonce, newRequestId } from "../../src/core/ids.js";
import { approvalMessage, requestDigest, requestMessage } from "../../src/core/request.js";
import { SIG_NAMESPACE, type ApprovalStatement, type GuardRequest, type SignedRequest } from "../../src/core/types.js";
import { sshKeygenSign } from "./keys.js";

export interface Forger {
  /** The store URL as guard takes it: `file:/path` or `postgres://…`. */
  store: string;
  /** The requester's own private key file. */
  key: string;
}

/** Copy request `sourceId`, apply `edit`, re-sign with the forger's key, store it under a new id. */
export async function forgeRequest(f: Forger, sourceId: string, edit: (r: GuardRequest) => void): Promise<SignedRequest> {
  const store = await openStore(f.store);
  try {
    const source = await store.getRequest(sourceId);
    if (!source) throw new Error(`no request ${sourceId} to copy`);
    const request = structuredClone(source.request);
    request.id = newRequestId(randomBytes(16));
    request.nonce = newNonce(randomBytes(16));
    edit(request);
    const signature = await sshKeygenSign({ privatePath: f.key, namespace: SIG_NAMESPACE.request, message: requestMessage(request) });
    const signed: SignedRequest = { request, signature };
    await store.putRequest(signed);
    return signed;
  } finally {
    await store.close();
  }
}

/** Plant an approval of `signed` made with `key` under `principal`'s name, straight into the store. */
export async function plantApproval(storeUrl: string, signed: SignedRequest, principal: string, fingerprint: string, key: string): Promise<void> {
  const store = await openStore(storeUrl);
  try {
    const statement: ApprovalStatement = {
      v: 1,
      requestId: signed.request.id,
      requestDigest: requestDigest(signed.request),
      decision: "approve",
      principal,
      fingerprint,
      comment: null,
      createdAt: new Date(await store.now()).toISOString(),
      nonce: newNonce(randomBytes(16)),
    };
    const signature = await sshKeygenSign({ privatePath: key, namespace: SIG_NAMESPACE.approval, message: approvalMessage(statement) });
    await store.putApproval(signed.request.id, { statement, signature });
  } finally {
    await store.close();
  }
}

/** The list of consumption records for a request id, to prove nothing was consumed. */
export async function consumed(storeUrl: string, id: string): Promise<boolean> {
  const store = await openStore(storeUrl);
  try {
    return (await store.getConsumption(id)) !== null;
  } finally {
    await store.close();
  }
}
