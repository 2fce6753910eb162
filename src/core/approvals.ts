import { parseAuthorizedKey } from "./sshkey.js";
import { asciiIdentifier, escapeForTerminal } from "./escape.js";
import {
  DEFAULT_TTL_SECONDS,
  MAX_TTL_SECONDS,
  approvalMessage,
  isExpired,
  requestDigest,
  requestMessage,
  validateApprovalShape,
  validateRequestShape,
} from "./request.js";
import { SIG_NAMESPACE } from "./types.js";
import type { GuardRequest, Policy, Principal, PublicKey, RequestStatus, Requirement, SignedApproval, SignedRequest } from "./types.js";

/**
 * Counting approvals against the CURRENT policy (A13): who signed, with which key, for which request,
 * whether they are the requester, whether they are in a required group, and whether time allows it.
 * Thresholds count distinct principals, never keys or signatures (A5, A6). Every approval that does not
 * count is reported with the reason, so `guard show` can explain what is missing.
 */

/** How far an approver's or requester's clock may run ahead of the store's (A10, A11). */
export const CLOCK_SKEW_MS = 5 * 60_000;

/** Signature verification, injected so the core stays a pure, table-testable unit (src/core/sshsig.ts in production). */
export type VerifyFn = (
  armored: string,
  message: string,
  namespace: string,
  keys: readonly PublicKey[],
) => { ok: true; key: PublicKey } | { ok: false; reason: string };

export interface RequirementProgress {
  /** The requirement as enforced: the request's, tightened by the current policy's rule of that name. */
  requirement: Requirement;
  /** Distinct principals whose approval counts for it, sorted. */
  approvedBy: string[];
  needed: number;
  met: boolean;
  /** Principals who could still approve (in a required group, not the requester, not yet counted, not denying). */
  eligible: string[];
}

export interface IgnoredStatement {
  /** As claimed in the statement: untrusted, escape it before display. */
  principal: string;
  fingerprint: string;
  decision: string;
  /** Why it did not count; already escaped for a terminal. */
  why: string;
}

export interface Assessment {
  status: RequestStatus;
  /**
   * False when the request itself cannot be trusted (signature, signer, lifetime, shape). Approvals then
   * never count, so the status is never "approved"; the CLI refuses such a request as an integrity
   * failure (65), because a valid requester never produces one and only a store writer can.
   */
  requestValid: boolean;
  /** Why the request is invalid; already escaped. */
  problems: string[];
  requirements: RequirementProgress[];
  deniedBy: Array<{ principal: string; comment: string | null }>;
  ignored: IgnoredStatement[];
  acknowledgedBy: string[];
}

export interface AssessInput {
  signed: SignedRequest;
  approvals: readonly SignedApproval[];
  consumed: boolean;
  policy: Policy;
  /** Epoch ms by the store's clock. */
  now: number;
  verify: VerifyFn;
}

const esc = escapeForTerminal;
const who = (name: string): string => asciiIdentifier(name);

export function assessRequest(p: AssessInput): Assessment {
  const { policy, now } = p;
  let req: GuardRequest;
  try {
    req = validateRequestShape(p.signed.request);
  } catch (e) {
    const problem = e instanceof Error ? e.message : "request record is malformed";
    return {
      status: p.consumed ? "consumed" : "pending",
      requestValid: false,
      problems: [problem],
      requirements: [],
      deniedBy: [],
      ignored: p.approvals.map((a) => ({ ...claimed(a), why: "the request itself is malformed" })),
      acknowledgedBy: [],
    };
  }

  const requirements = effectiveRequirements(req, policy);
  const problems = requestProblems(req, p.signed.signature, requirements, policy, now, p.verify);
  const requestValid = problems.length === 0;
  const expired = isExpired(req, now);
  const digest = requestDigest(req);
  const created = Date.parse(req.createdAt);
  const expires = Date.parse(req.expiresAt);

  // The requester is whoever signed the request: by principal name and by key, so an alias key listed
  // under another name is still the requester (A7).
  const requesterFps = new Set([req.requester.fingerprint]);
  const requesterNames = new Set(req.requester.principal === null ? [] : [req.requester.principal]);
  for (const pr of Object.values(policy.principals)) {
    if (pr.keys.some((k) => requesterFps.has(k.fingerprint))) requesterNames.add(pr.name);
  }

  const ignored: IgnoredStatement[] = [];
  const deniedBy: Array<{ principal: string; comment: string | null }> = [];
  const acknowledgedBy: string[] = [];
  const approvedBy = requirements.map(() => new Set<string>());
  const counted = new Set<string>();

  for (const a of p.approvals) {
    const ignore = (why: string): void => {
      ignored.push({ ...claimed(a), why });
    };
    try {
      validateApprovalShape(a);
    } catch (e) {
      ignore(e instanceof Error ? e.message : "approval record is malformed");
      continue;
    }
    const st = a.statement;
    if (st.requestId !== req.id) {
      ignore(`it is for request ${st.requestId}, not ${req.id}`);
      continue;
    }
    if (st.requestDigest !== digest) {
      ignore("it was signed over a different version of this request (command, arguments, script, environment, policy or expiry differ)");
      continue;
    }
    const principal = principalOf(policy, st.principal);
    if (principal === undefined) {
      ignore(`${who(st.principal)} is not a principal in the current policy`);
      continue;
    }
    const res = safeVerify(p.verify, a.signature, approvalMessage(st), SIG_NAMESPACE.approval, principal.keys);
    if (!res.ok) {
      ignore(`the signature does not verify with any key the current policy lists for ${who(st.principal)}: ${esc(res.reason)}`);
      continue;
    }
    if (res.key.fingerprint !== st.fingerprint) {
      ignore(`it names key ${st.fingerprint} but was signed with ${esc(res.key.fingerprint)}`);
      continue;
    }
    const isRequester = requesterNames.has(principal.name) || requesterFps.has(res.key.fingerprint);
    const t = Date.parse(st.createdAt);

    if (st.decision === "deny") {
      // A refusal only ever restricts, so neither time nor expiry limits it; the requester may withdraw.
      if (!isRequester && requirements.length > 0 && !requirements.some((r) => inGroups(principal, r.from))) {
        ignore(`${who(principal.name)} is not in a group that decides on this request (${groupList(requirements)})`);
      } else if (!deniedBy.some((d) => d.principal === principal.name)) {
        deniedBy.push({ principal: principal.name, comment: st.comment });
      }
      continue;
    }
    if (isRequester) {
      ignore(`${who(principal.name)} is the requester and cannot ${st.decision} their own request`);
      continue;
    }
    if (t > now + CLOCK_SKEW_MS) {
      ignore(`it is dated ${st.createdAt}, in the future of the store clock (${new Date(now).toISOString()})`);
      continue;
    }
    if (t < created - CLOCK_SKEW_MS) {
      ignore(`it is dated ${st.createdAt}, before the request was created (${req.createdAt})`);
      continue;
    }

    if (st.decision === "acknowledge") {
      const bg = policy.breakGlass;
      if (!req.breakGlass) ignore("it acknowledges a break-glass run, but this request did not break glass");
      else if (bg === undefined) ignore("the current policy has no break_glass section");
      else if (!inGroups(principal, bg.groups)) ignore(`${who(principal.name)} is not in a break_glass group (${bg.groups.map(esc).join(", ")})`);
      else if (!acknowledgedBy.includes(principal.name)) acknowledgedBy.push(principal.name);
      continue;
    }

    if (!requestValid) {
      ignore("the request itself is invalid");
      continue;
    }
    if (expired || t >= expires) {
      ignore(`the request expired at ${req.expiresAt}`);
      continue;
    }
    const matched = requirements.map((r, i) => (inGroups(principal, r.from) ? i : -1)).filter((i) => i >= 0);
    if (matched.length === 0) {
      ignore(
        requirements.length === 0
          ? "the request needs no approvals"
          : `${who(principal.name)} is not in any group the request needs approvals from (${groupList(requirements)})`,
      );
      continue;
    }
    if (counted.has(principal.name)) {
      ignore(`${who(principal.name)} is already counted: thresholds count distinct people, not keys or signatures`);
      continue;
    }
    counted.add(principal.name);
    for (const i of matched) approvedBy[i]!.add(principal.name);
  }

  const denied = new Set(deniedBy.map((d) => d.principal));
  const progress: RequirementProgress[] = requirements.map((r, i) => {
    const by = [...approvedBy[i]!].sort();
    return {
      requirement: r,
      approvedBy: by,
      needed: r.approvals,
      met: requestValid && !expired && by.length >= r.approvals,
      eligible: Object.values(policy.principals)
        .filter((pr) => pr.keys.length > 0 && inGroups(pr, r.from) && !requesterNames.has(pr.name) && !by.includes(pr.name) && !denied.has(pr.name))
        .map((pr) => pr.name)
        .sort(),
    };
  });

  let status: RequestStatus;
  if (p.consumed) status = "consumed";
  else if (deniedBy.length > 0) status = "denied";
  else if (expired) status = "expired";
  else if (requestValid && progress.every((r) => r.met)) status = "approved";
  else status = "pending";

  return { status, requestValid, problems, requirements: progress, deniedBy, ignored, acknowledgedBy: acknowledgedBy.sort() };
}

/**
 * The requirements as enforced now. The requester signed the request's list, so it is never trusted to
 * be weaker than the current policy: for a rule that still requires approvals, the higher count, the
 * current groups (A13) and the shorter lifetime apply; a requiring rule named in `rules` but missing
 * from the list is added. (The run path still re-evaluates the decision; a policy change also shows up
 * as a `policy` binding difference.)
 */
export function effectiveRequirements(req: GuardRequest, policy: Policy): Requirement[] {
  const current = new Map<string, Requirement>();
  for (const rule of policy.rules) {
    if (rule.effect.type !== "require" || current.has(rule.name)) continue;
    const { approvals, from, reason, confirm, ttlSeconds } = rule.effect;
    current.set(rule.name, { rule: rule.name, approvals, from, reason, confirm, ttlSeconds });
  }
  const out: Requirement[] = req.requirements.map((r) => {
    const c = current.get(r.rule);
    if (c === undefined) return r;
    return {
      rule: r.rule,
      approvals: Math.max(r.approvals, c.approvals),
      from: c.from,
      reason: r.reason || c.reason,
      confirm: r.confirm || c.confirm,
      ttlSeconds: Math.min(r.ttlSeconds, c.ttlSeconds),
    };
  });
  for (const name of req.rules) {
    const c = current.get(name);
    if (c !== undefined && !out.some((r) => r.rule === name)) out.push(c);
  }
  return out;
}

function requestProblems(
  req: GuardRequest,
  signature: unknown,
  requirements: readonly Requirement[],
  policy: Policy,
  now: number,
  verify: VerifyFn,
): string[] {
  const problems: string[] = [];
  const created = Date.parse(req.createdAt);
  const expires = Date.parse(req.expiresAt);
  const envName = req.environment.name;
  const known = Object.prototype.hasOwnProperty.call(policy.environments, envName) ? policy.environments[envName] : undefined;
  // Protected if the request says so, the current policy says so, or the current policy does not know it.
  const isProtected = req.environment.protected || known === undefined || known.protected;

  if (created > now + CLOCK_SKEW_MS) problems.push(`the request is dated ${req.createdAt}, in the future of the store clock (${new Date(now).toISOString()})`);

  const maxTtl = requirements.length > 0 ? Math.min(MAX_TTL_SECONDS, ...requirements.map((r) => r.ttlSeconds)) : DEFAULT_TTL_SECONDS;
  const lifetime = (expires - created) / 1000;
  if (lifetime > maxTtl) problems.push(`the request lives ${lifetime} s, longer than the policy allows (${maxTtl} s)`);

  let keys: PublicKey[] | null = null;
  const principal = req.requester.principal;
  if (principal !== null) {
    const pr = principalOf(policy, principal);
    if (pr === undefined) problems.push(`the requester ${who(principal)} is not a principal in the current policy`);
    else keys = pr.keys;
  } else if (isProtected) {
    problems.push(`the requester's key is not registered in the policy, which is allowed only for unprotected environments, and ${esc(envName)} is protected`);
  } else {
    const key = keyFromLine(req.requester.key);
    if (key === null || key.fingerprint !== req.requester.fingerprint) problems.push("the requester's key does not match its fingerprint");
    else keys = [key];
  }
  if (keys !== null) {
    const res = typeof signature === "string" && signature !== ""
      ? safeVerify(verify, signature, requestMessage(req), SIG_NAMESPACE.request, keys)
      : { ok: false as const, reason: "the signature is missing" };
    if (!res.ok) problems.push(`the request signature does not verify: ${esc(res.reason)}`);
    else if (res.key.fingerprint !== req.requester.fingerprint || `${res.key.type} ${res.key.blob}` !== req.requester.key) {
      problems.push(`the request names key ${req.requester.fingerprint} but was signed with ${esc(res.key.fingerprint)}`);
    }
  }

  if (requirements.some((r) => r.reason) && (req.reason === null || req.reason.trim() === "")) {
    problems.push("a reason is required but the request has none");
  }
  if (isProtected && requirements.length === 0 && !req.breakGlass) {
    problems.push(`the request is for protected environment ${esc(envName)} but carries no approval requirement`);
  }
  if (req.breakGlass) {
    const bg = policy.breakGlass;
    if (bg === undefined) problems.push("the request breaks glass but the current policy has no break_glass section");
    else {
      if (!bg.environments.includes(envName)) problems.push(`break-glass is not allowed for ${esc(envName)}`);
      const pr = principal === null ? undefined : principalOf(policy, principal);
      if (pr === undefined || !inGroups(pr, bg.groups)) problems.push("the requester is not in a break_glass group");
    }
    if (req.reason === null || req.reason.trim() === "") problems.push("break-glass requires a reason");
  }
  return problems;
}

/** Own properties only: a claimed principal "constructor" must not find Object.prototype's. */
function principalOf(policy: Policy, name: string): Principal | undefined {
  return Object.prototype.hasOwnProperty.call(policy.principals, name) ? policy.principals[name] : undefined;
}

function inGroups(pr: Principal, groups: readonly string[] | null): boolean {
  return groups === null || pr.groups.some((g) => groups.includes(g));
}

function groupList(requirements: readonly Requirement[]): string {
  const groups = new Set<string>();
  for (const r of requirements) for (const g of r.from ?? ["any principal"]) groups.add(g);
  return [...groups].map(esc).join(", ");
}

function claimed(a: SignedApproval): Pick<IgnoredStatement, "principal" | "fingerprint" | "decision"> {
  const st = (typeof a === "object" && a !== null ? (a as { statement?: unknown }).statement : undefined) as Record<string, unknown> | undefined;
  const field = (k: string): string => (st !== undefined && st !== null && typeof st[k] === "string" ? (st[k] as string) : "(unknown)");
  return { principal: field("principal"), fingerprint: field("fingerprint"), decision: field("decision") };
}

function safeVerify(verify: VerifyFn, armored: string, message: string, namespace: string, keys: readonly PublicKey[]): ReturnType<VerifyFn> {
  if (keys.length === 0) return { ok: false, reason: "no keys are listed" };
  try {
    return verify(armored, message, namespace, keys);
  } catch (e) {
    return { ok: false, reason: `verification failed: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/**
 * `<type> <base64>` → PublicKey with its OpenSSH fingerprint, for requesters outside the policy. The same
 * strict parser as policy keys: weak or malformed keys are no key at all.
 */
export function keyFromLine(line: string): PublicKey | null {
  const parsed = parseAuthorizedKey(line);
  return parsed.ok ? parsed.key : null;
}

/** For listings: whether a request has passed its expiry at `now` (store clock). */
export { isExpired };
