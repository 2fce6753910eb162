import { parseAuthorizedKey } from "./sshkey.js";
import { asciiIdentifier, escapeForTerminal } from "./escape.js";
import {
  DEFAULT_TTL_SECONDS,
  MAX_TTL_SECONDS,
  approvalMessage,
  isExpired,
  requestMessage,
  validateApprovalShape,
  validateRequestShape,
} from "./request.js";
import { claimDifferences, deriveDecision, type ClaimField } from "./derive.js";
import { sha256Hex } from "./canonical.js";
import { SIG_NAMESPACE } from "./types.js";
import type { Decision, GuardRequest, Policy, Principal, PublicKey, RequestStatus, Requirement, SignedApproval, SignedRequest } from "./types.js";

/**
 * A request's fate, decided in one place for every command: its status, the requirements as enforced,
 * who may still approve, and why each statement does or does not count.
 *
 * Everything that decides comes from the CURRENT policy (A13, R1–R4): the requirements are the current
 * policy's evaluation of the invocation the request binds (src/core/derive.ts), never the request's own
 * list, which is a claim; break-glass is never a way for a stored request to become approved. Counting:
 * who signed, with which key, for which request, whether they are the requester, whether they are in a
 * required group, and whether time allows it. Thresholds count distinct principals, never keys or
 * signatures (A5, A6). Every statement that does not count is reported with a code and the reason, so
 * `guard show` can explain what is missing.
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
  /** The requirement as enforced: the current policy's, for the invocation the request binds. */
  requirement: Requirement;
  /** Distinct principals whose approval counts for it, sorted. */
  approvedBy: string[];
  needed: number;
  met: boolean;
  /** Principals who could still approve (in a required group, not the requester, not yet counted, not denying). */
  eligible: string[];
}

/** Why a statement does not count: a closed set, for programs (`--json`) and tests. */
export type IgnoreCode =
  | "malformed"
  | "other-request"
  | "other-version"
  | "unknown-principal"
  | "bad-signature"
  | "wrong-key"
  | "not-deciding-group"
  | "requester"
  | "future"
  | "before-request"
  | "not-break-glass"
  | "no-break-glass"
  | "not-break-glass-group"
  | "request-invalid"
  | "request-void"
  | "expired"
  | "not-needed"
  | "not-eligible"
  | "already-counted"
  | "break-glass-run";

export interface IgnoredStatement {
  /** As claimed in the statement: untrusted, escape it before display. */
  principal: string;
  fingerprint: string;
  decision: string;
  code: IgnoreCode;
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
  /**
   * The current policy's decision for the invocation the request binds (null when the record is too
   * malformed to evaluate). Its `reasons` say why the policy in force would refuse the run now.
   */
  derived: Decision | null;
  /** Claims of the request (rules, requirements, protection) that the derivation does not give. */
  claims: ClaimField[];
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
      ignored: p.approvals.map((a) => ({ ...claimed(a), code: "malformed" as const, why: "the request itself is malformed" })),
      acknowledgedBy: [],
      derived: null,
      claims: [],
    };
  }

  // Derive, never trust: what the current policy requires of the run the request binds.
  const derived = deriveDecision(policy, req, now);
  const requirements = derived.requirements;
  const isVoid = req.policyDigest !== policy.digest;
  // Under the policy it names, a genuine request carries exactly the derived claims; any difference was
  // written by hand (a requester re-signing their own record, or a store writer).
  const claims = claimDifferences(req, derived);
  // The request's canonical form, made once: its signature is over it and its digest is its SHA-256
  // (a request is some 8 KB; `guard requests --all` assesses a year of them).
  let canonical: string | undefined;
  const message = (): string => (canonical ??= requestMessage(req));
  const problems = requestProblems(req, p.signed.signature, isVoid ? null : derived, policy, now, p.verify, message);
  if (!isVoid && claims.length > 0) {
    problems.push(
      `the request claims ${claims.map((c) => (c === "environment.protected" ? "a protection" : c)).join(", ")} that the policy it names does not give for this run (forged or edited after signing)`,
    );
  }
  const requestValid = problems.length === 0;
  const expired = isExpired(req, now);
  const digest = sha256Hex(message()); // as requestDigest(req)
  const created = Date.parse(req.createdAt);
  const expires = Date.parse(req.expiresAt);

  const { names: requesterNames, fingerprints: requesterFps } = requesterOf(policy, req.requester.principal, req.requester.fingerprint);

  const ignored: IgnoredStatement[] = [];
  const deniedBy: Array<{ principal: string; comment: string | null }> = [];
  const acknowledgedBy: string[] = [];
  const approvedBy = requirements.map(() => new Set<string>());
  const counted = new Set<string>();

  for (const a of p.approvals) {
    const ignore = (code: IgnoreCode, why: string): void => {
      ignored.push({ ...claimed(a), code, why });
    };
    try {
      validateApprovalShape(a);
    } catch (e) {
      ignore("malformed", e instanceof Error ? e.message : "approval record is malformed");
      continue;
    }
    const st = a.statement;
    if (st.requestId !== req.id) {
      ignore("other-request", `it is for request ${st.requestId}, not ${req.id}`);
      continue;
    }
    if (st.requestDigest !== digest) {
      ignore("other-version", "it was signed over a different version of this request (command, arguments, script, environment, policy or expiry differ)");
      continue;
    }
    const principal = principalOf(policy, st.principal);
    if (principal === undefined) {
      ignore("unknown-principal", `${who(st.principal)} is not a principal in the current policy`);
      continue;
    }
    const res = safeVerify(p.verify, a.signature, approvalMessage(st), SIG_NAMESPACE.approval, principal.keys);
    if (!res.ok) {
      ignore("bad-signature", `the signature does not verify with any key the current policy lists for ${who(st.principal)}: ${esc(res.reason)}`);
      continue;
    }
    if (res.key.fingerprint !== st.fingerprint) {
      ignore("wrong-key", `it names key ${st.fingerprint} but was signed with ${esc(res.key.fingerprint)}`);
      continue;
    }
    const isRequester = requesterNames.has(principal.name) || requesterFps.has(res.key.fingerprint);
    const t = Date.parse(st.createdAt);

    if (st.decision === "deny") {
      // A refusal only ever restricts, so neither time nor expiry limits it; the requester may withdraw.
      if (!isRequester && requirements.length > 0 && !requirements.some((r) => inGroups(principal, r.from))) {
        ignore("not-deciding-group", `${who(principal.name)} is not in a group that decides on this request (${groupList(requirements)})`);
      } else if (!deniedBy.some((d) => d.principal === principal.name)) {
        deniedBy.push({ principal: principal.name, comment: st.comment });
      }
      continue;
    }
    if (isRequester) {
      ignore("requester", `${who(principal.name)} is the requester and cannot ${st.decision} their own request`);
      continue;
    }
    if (t > now + CLOCK_SKEW_MS) {
      ignore("future", `it is dated ${st.createdAt}, in the future of the store clock (${new Date(now).toISOString()})`);
      continue;
    }
    if (t < created - CLOCK_SKEW_MS) {
      ignore("before-request", `it is dated ${st.createdAt}, before the request was created (${req.createdAt})`);
      continue;
    }

    if (st.decision === "acknowledge") {
      const bg = policy.breakGlass;
      if (!req.breakGlass) ignore("not-break-glass", "it acknowledges a break-glass run, but this request did not break glass");
      else if (bg === undefined) ignore("no-break-glass", "the current policy has no break_glass section");
      else if (!inGroups(principal, bg.groups)) ignore("not-break-glass-group", `${who(principal.name)} is not in a break_glass group (${bg.groups.map(esc).join(", ")})`);
      else if (!acknowledgedBy.includes(principal.name)) acknowledgedBy.push(principal.name);
      continue;
    }

    if (!requestValid) {
      ignore("request-invalid", "the request itself is invalid");
      continue;
    }
    if (isVoid) {
      ignore("request-void", "the request was made under another policy than the one in force");
      continue;
    }
    if (req.breakGlass) {
      // A break-glass run is reviewed (acknowledged), never approved: a stored flag is no way around approvals.
      ignore("break-glass-run", "a break-glass run is acknowledged, not approved");
      continue;
    }
    if (expired || t >= expires) {
      ignore("expired", `the request expired at ${req.expiresAt}`);
      continue;
    }
    const matched = requirements.map((r, i) => (inGroups(principal, r.from) ? i : -1)).filter((i) => i >= 0);
    if (matched.length === 0) {
      ignore(
        requirements.length === 0 ? "not-needed" : "not-eligible",
        requirements.length === 0
          ? "the request needs no approvals"
          : `${who(principal.name)} is not in any group the request needs approvals from (${groupList(requirements)})`,
      );
      continue;
    }
    if (counted.has(principal.name)) {
      ignore("already-counted", `${who(principal.name)} is already counted: thresholds count distinct people, not keys or signatures`);
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
      met: requestValid && !isVoid && !req.breakGlass && !expired && by.length >= r.approvals,
      eligible: eligibleApprovers(policy, r, { names: requesterNames, fingerprints: requesterFps })
        .filter((pr) => !by.includes(pr.name) && !denied.has(pr.name))
        .map((pr) => pr.name)
        .sort(),
    };
  });

  let status: RequestStatus;
  if (p.consumed) status = "consumed";
  else if (deniedBy.length > 0) status = "denied";
  else if (expired) status = "expired";
  else if (isVoid) status = "void";
  // Never approved by an empty list (an empty every() is true), a break-glass flag, or an invalid record.
  else if (requestValid && !req.breakGlass && progress.length > 0 && progress.every((r) => r.met)) status = "approved";
  else status = "pending";

  return { status, requestValid, problems, requirements: progress, deniedBy, ignored, acknowledgedBy: acknowledgedBy.sort(), derived, claims };
}

function requestProblems(
  req: GuardRequest,
  signature: unknown,
  /** Null for a void request: another policy's derivation says nothing about how it was made. */
  derived: Decision | null,
  policy: Policy,
  now: number,
  verify: VerifyFn,
  /** requestMessage(req), made on first use. */
  message: () => string,
): string[] {
  const problems: string[] = [];
  const created = Date.parse(req.createdAt);
  const expires = Date.parse(req.expiresAt);
  const envName = req.environment.name;
  const known = Object.prototype.hasOwnProperty.call(policy.environments, envName) ? policy.environments[envName] : undefined;
  // Protected if the request says so, the current policy says so, or the current policy does not know it.
  const isProtected = req.environment.protected || derived?.protected === true || known === undefined || known.protected;

  if (created > now + CLOCK_SKEW_MS) problems.push(`the request is dated ${req.createdAt}, in the future of the store clock (${new Date(now).toISOString()})`);

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
      ? safeVerify(verify, signature, message(), SIG_NAMESPACE.request, keys)
      : { ok: false as const, reason: "the signature is missing" };
    if (!res.ok) problems.push(`the request signature does not verify: ${esc(res.reason)}`);
    else if (res.key.fingerprint !== req.requester.fingerprint || `${res.key.type} ${res.key.blob}` !== req.requester.key) {
      problems.push(`the request names key ${req.requester.fingerprint} but was signed with ${esc(res.key.fingerprint)}`);
    }
  }

  if (derived === null) return problems;
  const requirements = derived.requirements;
  const maxTtl = requirements.length > 0 ? Math.min(MAX_TTL_SECONDS, ...requirements.map((r) => r.ttlSeconds)) : DEFAULT_TTL_SECONDS;
  const lifetime = (expires - created) / 1000;
  if (lifetime > maxTtl) problems.push(`the request lives ${lifetime} s, longer than the policy allows (${maxTtl} s)`);
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
      if (!bg.environments.includes(envName) || !derived.breakGlassAvailable) problems.push(`break-glass is not allowed for ${esc(envName)}`);
      const pr = principal === null ? undefined : principalOf(policy, principal);
      if (pr === undefined || !inGroups(pr, bg.groups)) problems.push("the requester is not in a break_glass group");
    }
    // Break-glass overrides approvals and freezes, never a deny rule: no genuine break-glass run has one.
    const hardDeny = derived.rules.filter((name) => policy.rules.find((r) => r.name === name)?.effect.type === "deny");
    if (hardDeny.length > 0) problems.push(`break-glass never overrides a deny rule, and this run matches ${hardDeny.map(esc).join(", ")}`);
    if (req.reason === null || req.reason.trim() === "") problems.push("break-glass requires a reason");
  }
  return problems;
}

/** Why a person may not record a decision on a request: a closed set, rendered by the commands. */
export type DecideRefusal =
  | { code: "not-principal" }
  | { code: "invalid"; problems: string[] }
  | { code: "void" }
  | { code: "requester" }
  | { code: "closed"; status: RequestStatus }
  | { code: "policy-denies"; reasons: string[] }
  | { code: "not-eligible"; needed: Array<string[] | null> }
  | { code: "not-break-glass-group"; groups: string[] };

/**
 * Whether `me` (the principal the signing key belongs to in the current policy, if any) may record
 * `verb` on the assessed request, and as which statement: `approve` on a break-glass run records the
 * second person's review (`acknowledge`). The requester may withdraw their own request (a signed deny);
 * approving or reviewing it is for others. Eligibility is the assessment's: the current policy's groups.
 */
export function mayDecide(
  a: Assessment,
  req: GuardRequest,
  policy: Policy,
  me: Principal | undefined,
  fingerprint: string,
  verb: "approve" | "deny",
): { ok: true; decision: "approve" | "deny" | "acknowledge" } | ({ ok: false } & DecideRefusal) {
  if (!a.requestValid) return { ok: false, code: "invalid", problems: a.problems };
  if (me === undefined) return { ok: false, code: "not-principal" };
  const decision = req.breakGlass && verb === "approve" ? "acknowledge" : verb;
  const isRequester = me.name === req.requester.principal || me.keys.some((k) => k.fingerprint === req.requester.fingerprint) || fingerprint === req.requester.fingerprint;
  if (isRequester && decision !== "deny") return { ok: false, code: "requester" };
  if (a.status === "void") return { ok: false, code: "void" };
  if (decision === "acknowledge") {
    const groups = policy.breakGlass?.groups ?? [];
    if (!inGroups(me, groups)) return { ok: false, code: "not-break-glass-group", groups };
    return { ok: true, decision };
  }
  if (a.status === "consumed" || a.status === "expired" || a.status === "denied") return { ok: false, code: "closed", status: a.status };
  if (isRequester) return { ok: true, decision };
  if (decision === "approve" && a.derived !== null && a.derived.decision === "deny") return { ok: false, code: "policy-denies", reasons: a.derived.reasons };
  if (!a.requirements.some((r) => inGroups(me, r.requirement.from))) {
    return { ok: false, code: "not-eligible", needed: a.requirements.map((r) => r.requirement.from) };
  }
  return { ok: true, decision };
}

/**
 * Who the requester is: whoever signed — by principal name and by key, so an alias key listed under
 * another name is still the requester (A7), as is any principal holding a key the requester's principal
 * holds.
 */
export function requesterOf(policy: Policy, principal: string | null, fingerprint: string): { names: Set<string>; fingerprints: Set<string> } {
  const fingerprints = new Set([fingerprint]);
  const own = principal === null ? undefined : principalOf(policy, principal);
  for (const k of own?.keys ?? []) fingerprints.add(k.fingerprint);
  const names = new Set(principal === null ? [] : [principal]);
  for (const pr of Object.values(policy.principals)) {
    if (pr.keys.some((k) => fingerprints.has(k.fingerprint))) names.add(pr.name);
  }
  return { names, fingerprints };
}

/** The principals who could ever approve `r` for this requester: in a required group, holding a key, not the requester. */
export function eligibleApprovers(policy: Policy, r: Requirement, requester: { names: Set<string>; fingerprints: Set<string> }): Principal[] {
  return Object.values(policy.principals).filter(
    (pr) => pr.keys.length > 0 && inGroups(pr, r.from) && !requester.names.has(pr.name) && !pr.keys.some((k) => requester.fingerprints.has(k.fingerprint)),
  );
}

/**
 * The first requirement nobody but the requester could ever meet (too few other people in its groups),
 * with who is eligible: a request for it would wait until it expires, so it is refused before it exists.
 */
export function unapprovable(
  policy: Policy,
  requirements: readonly Requirement[],
  principal: string | null,
  fingerprint: string,
): { requirement: Requirement; eligible: string[] } | null {
  const requester = requesterOf(policy, principal, fingerprint);
  for (const r of requirements) {
    const eligible = eligibleApprovers(policy, r, requester).map((p) => p.name).sort();
    if (eligible.length < r.approvals) return { requirement: r, eligible };
  }
  return null;
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
