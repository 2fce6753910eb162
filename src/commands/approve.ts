/**
 * `guard approve ID` and `guard deny ID`: show the request in full (escaped), check that the approver is
 * eligible under the CURRENT policy, confirm, sign the statement over the request's digest, audit, store.
 * On a break-glass run, `approve` records the second person's review (an acknowledgement).
 */
import { ExitCode, GuardError, because, deniedError, usageError } from "../core/errors.js";
import { isRequestId } from "../core/ids.js";
import { newNonce } from "../core/ids.js";
import { approvalMessage, requestDigest } from "../core/request.js";
import { asciiIdentifier, escapeForTerminal } from "../core/escape.js";
import { mayDecide, type DecideRefusal } from "../core/approvals.js";
import { SIG_NAMESPACE, type ApprovalStatement, type Principal } from "../core/types.js";
import type { CommonOptions } from "./options.js";
import { colours, printJson, say } from "../adapters/output.js";
import type { Context } from "./context.js";
import { withContext } from "./command.js";
import { identify } from "./identity.js";
import { assess, loadRequest, type LoadedRequest } from "./request-lib.js";
import { notify } from "./notifications.js";
import { renderRequest, requestJson } from "./request-view.js";
import { auditOrFail } from "./audit-events.js";
import type { RefusalScope } from "./context.js";
import { PassphraseRejected } from "../adapters/signer.js";
import type { Runtime } from "../runtime.js";

export interface ApproveOptions extends CommonOptions {
  comment?: string;
  yes?: boolean;
}

export async function approveCommand(id: string, opts: ApproveOptions, rt: Runtime): Promise<void> {
  await withContext(rt, opts, (ctx) => decide(ctx, id, "approve", opts.comment ?? null, opts), refusalScope(id, "approve"));
}

export async function denyCommand(id: string, opts: CommonOptions & { reason?: string; yes?: boolean }, rt: Runtime): Promise<void> {
  const given = opts.reason?.trim() || null;
  if (given === null && !rt.interactive()) {
    throw usageError("deny needs a reason: the requester should learn why", `pass --reason, e.g. guard deny ${escapeForTerminal(id)} --reason "not during the incident"`);
  }
  // At a terminal without --reason, the reason is asked for once the request has been shown (decide).
  await withContext(rt, opts, (ctx) => decide(ctx, id, "deny", given, { ...opts, yes: true }), refusalScope(id, "deny"));
}

/** A refused approval or denial is recorded as `approval.refused` (audit-events.ts). */
function refusalScope(id: string, verb: "approve" | "deny"): RefusalScope {
  return { type: "approval.refused", ...(isRequestId(id) ? { requestId: id } : {}), data: { decision: verb } };
}

async function decide(ctx: Context, given: string, verb: "approve" | "deny", comment: string | null, opts: ApproveOptions): Promise<void> {
  const c = colours();
  const { policy } = await ctx.policy();
  const loaded = await loadRequest(ctx, policy, given);
  const id = loaded.signed.request.id;
  const req = loaded.signed.request;
  for (const line of renderRequest(loaded, policy, c)) say(line);
  say();

  const identity = await identify(ctx, policy);
  const me = identity.principal ?? undefined;
  if (me !== undefined && req.policyDigest !== policy.digest) {
    throw because("policy-changed", deniedError(
      `request ${id} was made under a different policy (${req.policyDigest.slice(0, 12)}…) than yours (${policy.digest.slice(0, 12)}…)`,
      "make sure you and the requester use the same policy revision (git pull), then look again; descriptions, comments and file layout do not matter, but a request made under a policy that decides differently needs to be made again",
    ));
  }
  // One place decides who may decide what (src/core/approvals.ts): here it is only rendered.
  const verdict = mayDecide(loaded.assessment, req, policy, me, identity.signer.publicKey.fingerprint, verb);
  if (!verdict.ok) throw decideRefusal(verdict, id, verb, me, identity.signer.publicKey.fingerprint);
  const decision: ApprovalStatement["decision"] = verdict.decision;
  if (me === undefined) throw new GuardError(ExitCode.INTERNAL, "an eligible approver without a principal");

  if (verb === "approve") await confirm(ctx, loaded, opts);
  if (verb === "deny" && comment === null) {
    const typed = await ctx.rt.ask("Reason for the refusal (shown to the requester):", { validate: (v) => (v.trim() ? true : "a reason is required"), cancelled: "cancelled: nothing was denied" });
    comment = typed.trim();
  }

  const store = await ctx.store();
  const statement: ApprovalStatement = {
    v: 1,
    requestId: req.id,
    requestDigest: requestDigest(req),
    decision,
    principal: me.name,
    fingerprint: identity.signer.publicKey.fingerprint,
    comment,
    createdAt: new Date(await ctx.tick()).toISOString(),
    nonce: newNonce(ctx.rt.randomBytes(16)),
  };
  const signature = await signWithRetries(() => identity.signer.sign(approvalMessage(statement), SIG_NAMESPACE.approval));
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

/** The closed set of reasons from mayDecide(), in words, with the exit code each deserves. */
/** At a terminal a mistyped passphrase is asked again (3 tries in all), not the end of the approval. */
async function signWithRetries(sign: () => Promise<string>): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await sign();
    } catch (err) {
      if (!(err instanceof PassphraseRejected) || attempt >= 3) throw err;
      say(`${colours().yellow("guard:")} ${escapeForTerminal(err.message)}; try again (${attempt} of 3 tries used)`);
    }
  }
}

function decideRefusal(r: DecideRefusal, id: string, verb: "approve" | "deny", me: Principal | undefined, fingerprint: string): GuardError {
  const name = me === undefined ? fingerprint : asciiIdentifier(me.name);
  switch (r.code) {
    case "invalid":
      return because("tampered", new GuardError(ExitCode.INTEGRITY, `request ${id} does not verify: ${r.problems.join("; ")}`, "do not approve it; run `guard audit verify` and tell your SREs"));
    case "not-principal":
      return because("not-principal", deniedError(`your key ${fingerprint} is not a principal of the policy; only listed people can ${verb}`, "check `guard whoami`; pass --key with your listed key"));
    case "requester":
      return because("self-approval", deniedError(`you (${name}) made request ${id}; a second, distinct person must ${verb === "approve" ? "approve or review" : verb} it`, "hand the approve line to a colleague"));
    case "void":
      return because("policy-changed", deniedError(`request ${id} was made under another policy than the one in force; its approvals no longer count`, "ask the requester to make the request again under the current policy"));
    case "closed":
      return because("not-pending", deniedError(`request ${id} is ${r.status}; there is nothing to ${verb}`));
    case "policy-denies":
      return because("policy-deny", deniedError(`the policy in force refuses this run now: ${r.reasons.map(escapeForTerminal).join("; ")}; nothing was approved`, "approve it when the policy allows the run (a freeze ends, a rule changes)"));
    case "not-eligible": {
      const needed = r.needed.map((g) => g?.map(escapeForTerminal).join(" or ") ?? "anyone").join("; ");
      return because("not-eligible", deniedError(`${name} (groups: ${me?.groups.map(escapeForTerminal).join(", ") || "none"}) is not eligible to ${verb} this request: it needs ${needed}`));
    }
    case "not-break-glass-group":
      return because("not-eligible", deniedError(`reviewing a break-glass run needs a member of ${r.groups.map(escapeForTerminal).join(", ") || "a break_glass group"}; ${name} is not`));
  }
}

async function confirm(ctx: Context, loaded: LoadedRequest, opts: ApproveOptions): Promise<void> {
  const env = loaded.signed.request.environment.name;
  if (opts.yes) return;
  if (!ctx.rt.interactive()) throw because("confirm-missing", usageError("approving without a terminal needs --yes (you have been shown the request above)"));
  const typed = await ctx.rt.ask(`Type ${colours().bold(escapeForTerminal(env))} to approve this run against it:`, { cancelled: "cancelled: nothing was approved" });
  if (typed.trim() !== env) throw because("confirm-mismatch", deniedError(`confirmation ${JSON.stringify(typed)} does not match ${escapeForTerminal(env)}; nothing was approved`));
}
