/**
 * `guard approve ID` and `guard deny ID`: show the request in full (escaped), check that the approver is
 * eligible under the CURRENT policy, confirm, sign the statement over the request's digest, audit, store.
 * On a break-glass run, `approve` records the second person's review (an acknowledgement).
 */
import { randomBytes } from "node:crypto";
import { ExitCode, GuardError, because, deniedError, usageError } from "../core/errors.js";
import { isRequestId } from "../core/ids.js";
import { newNonce } from "../core/ids.js";
import { approvalMessage, requestDigest } from "../core/request.js";
import { asciiIdentifier } from "../core/escape.js";
import { SIG_NAMESPACE, type ApprovalStatement } from "../core/types.js";
import type { CommonOptions } from "../cli.js";
import { colours, printJson, say } from "../adapters/output.js";
import { ask, interactive } from "../adapters/prompt.js";
import { withContext, type Context } from "./context.js";
import { identify } from "./identity.js";
import { assess, loadRequest, notify, type LoadedRequest } from "./request-lib.js";
import { renderRequest, requestJson } from "./request-view.js";
import { auditOrFail, type RefusalScope } from "./audit-events.js";

export interface ApproveOptions extends CommonOptions {
  comment?: string;
  yes?: boolean;
}

export async function approveCommand(id: string, opts: ApproveOptions): Promise<void> {
  await withContext(opts, (ctx) => decide(ctx, id, "approve", opts.comment ?? null, opts), refusalScope(id, "approve"));
}

export async function denyCommand(id: string, opts: CommonOptions & { reason: string }): Promise<void> {
  if (!opts.reason?.trim()) throw usageError("deny needs --reason: the requester should learn why");
  await withContext(opts, (ctx) => decide(ctx, id, "deny", opts.reason.trim(), { ...opts, yes: true }), refusalScope(id, "deny"));
}

/** A refused approval or denial is recorded as `approval.refused` (audit-events.ts). */
function refusalScope(id: string, verb: "approve" | "deny"): RefusalScope {
  return { type: "approval.refused", ...(isRequestId(id) ? { requestId: id } : {}), data: { decision: verb } };
}

async function decide(ctx: Context, id: string, verb: "approve" | "deny", comment: string | null, opts: ApproveOptions): Promise<void> {
  const c = colours();
  const { policy } = await ctx.policy();
  const loaded = await loadRequest(ctx, policy, id);
  const req = loaded.signed.request;
  for (const line of renderRequest(loaded, policy, c)) say(line);
  say();

  // Who is deciding, first: a refusal below is recorded as theirs.
  const identity = await identify(ctx, policy);
  if (!loaded.assessment.requestValid) {
    throw new GuardError(ExitCode.INTEGRITY, `request ${id} does not verify: ${loaded.assessment.problems.join("; ")}`, "do not approve it; run `guard audit verify` and tell your SREs");
  }
  const me = identity.principal;
  if (!me) {
    throw because("not-principal", deniedError(`your key ${identity.signer.publicKey.fingerprint} is not a principal of the policy; only listed people can ${verb}`, "check `guard whoami`; pass --key with your listed key"));
  }
  const decision: ApprovalStatement["decision"] = req.breakGlass && verb === "approve" ? "acknowledge" : verb;
  // The requester is whoever signed the request — by principal and by key, never by $USER.
  const isRequester = me.name === req.requester.principal || me.keys.some((k) => k.fingerprint === req.requester.fingerprint);
  // The requester may withdraw their own request (a signed deny); approving or reviewing it is for others.
  if (isRequester && decision !== "deny") throw because("self-approval", deniedError(`you (${asciiIdentifier(me.name)}) made request ${id}; a second, distinct person must ${decision}`, "hand the approve line to a colleague"));
  if (req.policyDigest !== policy.digest) {
    throw because("policy-changed", deniedError(
      `request ${id} was made under a different policy (${req.policyDigest.slice(0, 12)}…) than yours (${policy.digest.slice(0, 12)}…)`,
      "make sure you and the requester use the same policy revision (git pull), then look again",
    ));
  }
  const status = loaded.assessment.status;
  if (decision !== "acknowledge" && (status === "consumed" || status === "expired" || status === "denied")) {
    throw because("not-pending", deniedError(`request ${id} is ${status}; there is nothing to ${verb}`));
  }
  if (decision === "acknowledge") {
    const groups = policy.breakGlass?.groups ?? [];
    if (groups.length && !me.groups.some((g) => groups.includes(g))) {
      throw because("not-eligible", deniedError(`reviewing a break-glass run needs a member of ${groups.join(", ")}; ${asciiIdentifier(me.name)} is not`));
    }
  } else if (!(isRequester && decision === "deny")) {
    const eligible = loaded.assessment.requirements.some((r) => r.requirement.from === null || r.requirement.from.some((g) => me.groups.includes(g)));
    if (!eligible) {
      const needed = loaded.assessment.requirements.map((r) => r.requirement.from?.join(" or ") ?? "anyone").join("; ");
      throw because("not-eligible", deniedError(`${asciiIdentifier(me.name)} (groups: ${me.groups.join(", ") || "none"}) is not eligible to ${verb} this request: it needs ${needed}`));
    }
  }

  if (verb === "approve") await confirm(ctx, loaded, opts);

  const store = await ctx.store();
  const statement: ApprovalStatement = {
    v: 1,
    requestId: req.id,
    requestDigest: requestDigest(req),
    decision,
    principal: me.name,
    fingerprint: identity.signer.publicKey.fingerprint,
    comment,
    createdAt: new Date(await store.now()).toISOString(),
    nonce: newNonce(randomBytes(16)),
  };
  const signature = await identity.signer.sign(approvalMessage(statement), SIG_NAMESPACE.approval);
  await auditOrFail(ctx, identity.actor, "approval.recorded", { requestId: req.id, decision, principal: me.name, fingerprint: statement.fingerprint, comment });
  await store.putApproval(req.id, { statement, signature });
  const after = await assess(ctx, policy, loaded.signed);
  if (opts.json) printJson(requestJson(after));
  const word = decision === "approve" ? c.green.bold("approved") : decision === "deny" ? c.red.bold("denied") : c.green.bold("acknowledged");
  say(`guard: ${word} ${req.id} as ${asciiIdentifier(me.name)} (${statement.fingerprint}); request is now ${after.assessment.status}`);
  // Every approval is announced, with the status it leaves the request in (`pending` while more are needed).
  if (decision !== "acknowledge") {
    const approver = { principal: me.name, fingerprint: statement.fingerprint, comment };
    await notify(ctx, policy, identity.actor, { event: decision === "approve" ? "request.approved" : "request.denied", request: req, status: after.assessment.status, approver });
  }
}

async function confirm(ctx: Context, loaded: LoadedRequest, opts: ApproveOptions): Promise<void> {
  const env = loaded.signed.request.environment.name;
  if (opts.yes) return;
  if (!interactive()) throw because("confirm-missing", usageError("approving without a terminal needs --yes (you have been shown the request above)"));
  const typed = await ask(`Type ${colours().bold(env)} to approve this run against it:`, { cancelled: "cancelled: nothing was approved" });
  if (typed.trim() !== env) throw because("confirm-mismatch", deniedError(`confirmation ${JSON.stringify(typed)} does not match ${env}; nothing was approved`));
  void ctx;
}
