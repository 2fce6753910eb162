/**
 * `audit verify`'s signature checks of stored records, batch by batch: the same answers whether a batch
 * is checked in this thread or in a worker thread (signature-parallel.ts), since both run this code.
 * Every field is a store claim: a request must be signed by the key it names (and that key must have
 * the fingerprint it names); an approval by the key embedded in its signature, whose fingerprint must be
 * the statement's (the policy is not consulted here: verify checks that records were not altered).
 * Each record is also held to the strict shape the commands hold it to when they use it
 * (validateSignedRequestShape, validateApprovalShape): a requester can sign anything with their own
 * key, so a valid signature over a record no guard would write is still tampering.
 */
import { sha256Hex } from "./canonical.js";
import { approvalMessage, requestMessage, shapeProblem, validateApprovalShape, validateSignedRequestShape } from "./request.js";
import { parseAuthorizedKey } from "./sshkey.js";
import { parseSshSig, verifySshSig } from "./sshsig.js";
import { SIG_NAMESPACE, type SignedApproval, type SignedRequest } from "./types.js";

export interface SignatureBatch {
  requests: SignedRequest[];
  approvals: SignedApproval[];
}

export interface SignatureAnswers {
  /** Per request, in order: its digest (SHA-256 of its canonical form, as requestDigest). */
  digests: string[];
  /** Per request, in order: 1 when its signature verifies. */
  requestsOk: Uint8Array;
  /** Per approval, in order: 1 when its signature verifies. */
  approvalsOk: Uint8Array;
  /**
   * Per request, in order: why it is not a record guard writes ("request record is malformed: <field>",
   * the field escaped), or null. The signature of a malformed record is not checked (requestsOk 0).
   */
  requestsMalformed: Array<string | null>;
  /** Per approval, in order: the same for approvals. */
  approvalsMalformed: Array<string | null>;
}

export function checkSignatures(batch: SignatureBatch): SignatureAnswers {
  const digests: string[] = [];
  const requestsOk = new Uint8Array(batch.requests.length);
  const approvalsOk = new Uint8Array(batch.approvals.length);
  const requestsMalformed = batch.requests.map((signed) => shapeProblem(() => validateSignedRequestShape(signed)));
  const approvalsMalformed = batch.approvals.map((a) => shapeProblem(() => validateApprovalShape(a)));
  batch.requests.forEach((signed, i) => {
    const req = signed.request;
    // The canonical form once: the digest is its SHA-256 (requestDigest), and the signature is over it.
    const message = requestMessage(req);
    digests.push(sha256Hex(message));
    if (requestsMalformed[i] !== null) return; // its fields may not even be text
    const key = parseAuthorizedKey(req.requester.key);
    const ok = key.ok && key.key.fingerprint === req.requester.fingerprint && verifySshSig(signed.signature, message, SIG_NAMESPACE.request, [key.key]).ok;
    requestsOk[i] = ok ? 1 : 0;
  });
  batch.approvals.forEach((a, i) => {
    if (approvalsMalformed[i] !== null) return;
    const parsed = parseSshSig(a.signature);
    const good =
      parsed.ok && parsed.sig.publicKey.fingerprint === a.statement.fingerprint && verifySshSig(a.signature, approvalMessage(a.statement), SIG_NAMESPACE.approval, [parsed.sig.publicKey]).ok;
    approvalsOk[i] = good ? 1 : 0;
  });
  return { digests, requestsOk, approvalsOk, requestsMalformed, approvalsMalformed };
}

