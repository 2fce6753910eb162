/**
 * The approval flow of `guard run`: find the approved request for this exact run or create one, wait for
 * a second person (at a terminal, or for --wait in CI), take the typed confirmation, then consume once
 * and run. Also `guard run --request ID` and `--break-glass`.
 */
import { ExitCode, GuardError, because, deniedError, usageError } from "../core/errors.js";
import { compareBinding } from "../core/request.js";
import { claimDifferences } from "../core/derive.js";
import { unapprovable } from "../core/approvals.js";
import { escapeForTerminal as esc, quoteArgv } from "../core/escape.js";
import { formatDuration } from "../core/duration.js";
import { localTime } from "../core/time.js";
import { normaliseEnvName } from "../core/names.js";
import { assertInterpreterRunnable, hashProgram } from "../adapters/program.js";
import { bindFileArguments } from "../adapters/file-args.js";
import type { BoundFile, PreviewResult } from "../core/types.js";
import { colours, say, writeStderr } from "../adapters/output.js";
import { drawLine, eraseLine } from "../adapters/progress.js";
import type { Context } from "./context.js";
import { planRun, refusalData, type Plan } from "./plan.js";
import { identify, type Identity } from "./identity.js";
import { assess, createSignedRequest, currentBinding, findUsableRequest, readRequest, runPreviews, stdinBinding, type LoadedRequest } from "./request-lib.js";
import { executeApproved } from "./execute.js";
import { auditBestEffort, auditOrFail } from "./audit-events.js";
import type { RunOptions } from "./options.js";
import type { RunResult } from "./execute.js";
import { renderBanner } from "./render.js";
import type { RunTrace } from "../adapters/ci.js";

export async function runWithApproval(ctx: Context, plan: Plan, opts: RunOptions, waitSeconds: number | undefined, trace?: RunTrace): Promise<RunResult> {
  assertConfirmable(ctx, plan, opts);
  const identity = await requesterIdentity(ctx, plan);
  const stdin = await stdinBinding(ctx);
  const hashed = await hashProgram(plan.program.path);
  const binding = currentBinding(ctx, plan, identity, hashed, stdin, await filesOrRefuse(ctx, plan, identity));

  let loaded: LoadedRequest | null = null;
  const candidate = await findUsableRequest(ctx, plan.policy, binding);
  if (candidate) {
    const existing = candidate.signed;
    const status = candidate.assessment.status;
    // A denied run is not re-asked with the same words: shopping for a more lenient approver needs a
    // new reason the approvers can weigh (or a changed run, which is a different request anyway).
    const newReason = opts.reason?.trim();
    if (status === "denied" && (!newReason || newReason === existing.request.reason)) {
      await auditBestEffort(ctx, identity.actor, "run.refused", { ...refusalData(plan, ExitCode.DENIED), requestId: existing.request.id });
      throw because("request-denied", deniedError(`request ${existing.request.id} for this exact run was denied${deniers(candidate)}`, "talk to the approver; to ask again, give a new --reason that answers the refusal"));
    }
    if (status === "approved" || status === "pending") {
      assertClaimsDerived(plan, candidate);
      loaded = candidate;
    }
  }
  if (loaded) {
    say(`guard: found request ${loaded.signed.request.id} for this exact run (${loaded.assessment.status})`);
  } else {
    refuseUnapprovable(plan, identity);
    // A script whose #! interpreter cannot run would waste the approver's time: say so before asking.
    await assertInterpreterRunnable(plan.program.path, plan.argv[0] ?? plan.program.path, { cwd: ctx.cwd, path: plan.childEnv.PATH });
    const previews = await previewsOrRefuse(ctx, plan, identity);
    const reason = await obtainReason(ctx, plan, opts);
    const signed = await createSignedRequest(ctx, plan, identity, binding, reason, false, previews);
    loaded = await assess(ctx, plan.policy, signed);
    announceRequest(loaded);
  }
  if (trace) trace.request = loaded;

  return awaitApprovalThenRun(ctx, plan, opts, identity, loaded, hashed, waitSeconds, trace);
}

/** `guard run --request ID`: exactly the approved argv, after re-deriving and comparing every bound field. */
export async function runApprovedRequest(
  ctx: Context,
  given: string,
  command: string[],
  opts: RunOptions,
  waitSeconds: number | undefined,
  trace?: RunTrace,
): Promise<RunResult> {
  const { policy } = await ctx.policy();
  const signed = await readRequest(ctx, given);
  const id = signed.request.id;
  const req = signed.request;
  const assessed = async (): Promise<LoadedRequest> => {
    const loaded = await assess(ctx, policy, signed);
    if (trace) trace.request = loaded;
    return loaded;
  };
  if (command.length > 0 && (command.length !== req.argv.length || command.some((a, i) => a !== req.argv[i]))) {
    await assessed(); // for a CI report, which shows the request
    throw because("argv-mismatch", deniedError(`the command given differs from request ${id}'s argv`, "omit the command: --request runs exactly the approved argv", [
      `approved: ${quoteArgv(req.argv)}`,
      `given:    ${quoteArgv(command)}`,
    ]));
  }
  if (req.cwd !== ctx.cwd) {
    await assessed();
    throw because("cwd-mismatch", deniedError(`request ${id} was approved for working directory ${esc(req.cwd)}, not ${esc(ctx.cwd)}`, `cd ${esc(req.cwd)} and run again`));
  }
  // A request that was used is refused at once, from its consumption record alone: its status is
  // "consumed" whatever its signatures and approvals say (assessRequest), so the racers that lost to
  // another run of the same approval learn it without reading its approvals or verifying a signature.
  // A shortcut for the refusal only: what runs is still decided below, from the verified assessment,
  // and by the store's single-use consume. (Under GitHub Actions the request is still assessed first, for
  // the step summary, which shows it.)
  if ((await (await ctx.store()).getConsumption(id)) !== null) {
    if (trace?.reported) await assessed();
    throw replayError(id);
  }
  const first = await assessed();
  // A request that can no longer run is refused before anything else is looked at.
  const early = first.assessment.status;
  if (early === "consumed") throw replayError(id);
  if (early === "denied") throw because("request-denied", deniedError(`request ${id} was denied${deniers(first)}`));
  if (early === "expired") throw new GuardError(ExitCode.APPROVAL_NEEDED, `request ${id} expired at ${localTime(req.expiresAt)}`, "create a new request: guard request -- …");
  if (early === "void") throw because("policy-changed", deniedError(`request ${id} was made under another policy than the one in force; its approvals no longer count`, "create a new request: guard request -- …"));
  if (req.breakGlass) {
    throw because("break-glass-refused", deniedError(`request ${id} records a break-glass run: it ran when it was made and never runs again, and nothing approves it`, "for another emergency run use --break-glass again; otherwise ask for an approval"));
  }
  const plan = await planRun(ctx, req.argv, opts.env, first.now);
  if (trace) trace.plan = plan;
  if (plan.decision.decision === "deny") {
    await auditBestEffort(ctx, { principal: null, fingerprint: null, user: ctx.user }, "run.refused", { ...refusalData(plan, ExitCode.DENIED), requestId: id });
    throw because("policy-deny", deniedError(`refused: ${plan.decision.reasons[0] ?? "the policy now denies this run"}`, "the policy in force decides, not the one the request was made under"));
  }
  if (plan.decision.protected) for (const line of renderBanner(plan, colours())) say(line);
  const identity = await identify(ctx, policy);
  if (identity.signer.publicKey.fingerprint !== req.requester.fingerprint) {
    throw because("not-requester", deniedError(`request ${id} belongs to ${esc(req.requester.principal ?? req.requester.fingerprint)}; only its requester can run it`, "ask for your own approval: guard request -- …"));
  }
  // On a bastion (run_as), naming the requester's public key is not enough: the invoker proves they hold
  // its private half (their own key file or agent, checked in Context.signer), so nobody else on the
  // machine runs this person's approval as themselves.
  if (ctx.invoker()) await identity.signer.sign(`guard run --request ${id}`, "access-guard-run");
  const stdin = await stdinBinding(ctx);
  const hashed = await hashProgram(plan.program.path);
  const diffs = compareBinding(req, currentBinding(ctx, plan, identity, hashed, stdin, await filesOrRefuse(ctx, plan, identity, id)));
  if (diffs.length > 0) {
    await auditBestEffort(ctx, identity.actor, "run.refused", { ...refusalData(plan, ExitCode.DENIED), requestId: id, differences: diffs.map((d) => d.field) });
    throw because("binding-mismatch", deniedError(
      `this run is not the run that was approved: ${diffs.map((d) => d.field).join(", ")} differ${diffs.length === 1 ? "s" : ""}`,
      "an approval covers exactly what the approver saw; request a new approval for this run",
      diffs.flatMap((d) => [`${d.field}:`, `  approved: ${d.approved}`, `  now:      ${d.current}`]),
    ));
  }
  assertConfirmable(ctx, plan, opts);
  // (Consumed, denied, expired and void were refused above, from this same assessment.)
  if (!first.assessment.requestValid) throw requestInvalid(first);
  assertClaimsDerived(plan, first);
  return awaitApprovalThenRun(ctx, plan, opts, identity, first, hashed, waitSeconds, trace);
}

/**
 * The common end of both approval paths: wait for a pending request (at a terminal until it expires; in
 * CI only for --wait, else exit 75), take the typed confirmation, then consume once and run.
 */
async function awaitApprovalThenRun(
  ctx: Context,
  plan: Plan,
  opts: RunOptions,
  identity: Identity,
  loaded: LoadedRequest,
  hashed: Awaited<ReturnType<typeof hashProgram>>,
  waitSeconds: number | undefined,
  trace: Parameters<typeof waitForApproval>[5],
): Promise<RunResult> {
  if (loaded.assessment.status !== "approved") {
    const tty = ctx.rt.interactive();
    const remaining = Date.parse(loaded.signed.request.expiresAt) - loaded.now;
    const waitMs = waitSeconds !== undefined ? Math.min(waitSeconds * 1000, remaining) : tty ? remaining : 0;
    if (waitMs <= 0) throw pendingError(loaded);
    loaded = await waitForApproval(ctx, plan, loaded, waitMs, tty, trace);
  }
  await confirmTarget(ctx, plan, opts, false);
  trace?.beforeExec();
  return executeApproved(ctx, plan, identity.actor, loaded.signed, hashed);
}

/**
 * Break-glass: a member of break_glass.groups runs without approvals, at a terminal, with a reason,
 * typed confirmation, a loud banner and an audit entry; the run is listed by `guard requests --review`
 * until a second person acknowledges it. It overrides approvals and freezes, never deny rules or an
 * uncertain target.
 */
export async function runBreakGlass(ctx: Context, plan: Plan, opts: RunOptions, trace?: RunTrace): Promise<RunResult> {
  const c = colours();
  const d = plan.decision;
  const refuse = async (message: string, hint?: string): Promise<never> => {
    await auditBestEffort(ctx, { principal: null, fingerprint: null, user: ctx.user }, "run.refused", { ...refusalData(plan, ExitCode.DENIED), breakGlass: true, reasons: [message] });
    throw because("break-glass-refused", deniedError(message, hint));
  };
  if (!ctx.rt.interactive() || ctx.env.CI || ctx.env.GITHUB_ACTIONS || ctx.env.GITLAB_CI) {
    await refuse("break-glass needs a person at a terminal; it is never available in CI or without a TTY", "CI runs wait for approvals: guard run --wait 30m -- …");
  }
  if (!plan.policy.breakGlass) await refuse("this policy has no break_glass section: break-glass is not available");
  if (d.decision === "allow") {
    say("guard: this run is allowed without break-glass; running it normally");
  }
  const hardDeny = d.rules.some((name) => plan.policy.rules.find((r) => r.name === name)?.effect.type === "deny");
  if (!d.environment || plan.detection.problems.length > 0 || hardDeny) {
    await refuse(`break-glass does not override ${hardDeny ? "a deny rule" : "an uncertain or conflicting target"}: ${d.reasons[0] ?? ""}`);
  }
  if (!d.breakGlassAvailable) await refuse(`break-glass is not allowed for environment ${d.environment}`);
  const identity = await requesterIdentity(ctx, plan);
  const groups = plan.policy.breakGlass?.groups ?? [];
  if (!identity.principal || !identity.principal.groups.some((g) => groups.includes(g))) {
    await refuse(`${esc(identity.principal?.name ?? identity.signer.publicKey.fingerprint)} is not in a break-glass group (${groups.join(", ")})`);
  }
  const store = await ctx.store();
  // Through the break-glass index, not all of history; every one is verified and judged by assess.
  for (const other of (await store.listBreakGlassRequests()).requests) {
    if (!other.request.breakGlass || other.request.requester.fingerprint !== identity.signer.publicKey.fingerprint) continue;
    const a = await assess(ctx, plan.policy, other);
    if (a.assessment.acknowledgedBy.length === 0) {
      await refuse(`your break-glass run ${other.request.id} has not been reviewed yet; a second break-glass waits for that review`, `ask a colleague: guard approve ${other.request.id}`);
    }
  }
  const stdin = await stdinBinding(ctx);
  const hashed = await hashProgram(plan.program.path);
  const binding = currentBinding(ctx, plan, identity, hashed, stdin, await filesOrRefuse(ctx, plan, identity));
  const signed = await createSignedRequest(ctx, plan, identity, binding, opts.reason!.trim(), true);
  say(c.bgRed.white.bold(" BREAK-GLASS ") + c.red.bold(` ${quoteArgv(plan.typed)} against ${esc(d.environment ?? "?")} without approval`));
  say(c.red(`  recorded as ${signed.request.id}; it stays on \`guard requests --review\` until a colleague runs: guard approve ${signed.request.id}`));
  await confirmTarget(ctx, plan, opts, true);
  await auditOrFail(ctx, identity.actor, "breakglass.used", { requestId: signed.request.id, reason: signed.request.reason, environment: d.environment });
  trace?.beforeExec();
  return executeApproved(ctx, plan, identity.actor, signed, hashed);
}

/** The files the run's arguments name, hashed; a limit guard cannot bind refuses the run (77, audited). */
async function filesOrRefuse(ctx: Context, plan: Plan, identity: Identity, requestId?: string): Promise<BoundFile[]> {
  try {
    return await bindFileArguments(plan.typed, ctx.cwd, plan.typed.length - plan.argv.length + 1);
  } catch (err) {
    if (err instanceof GuardError) {
      await auditBestEffort(ctx, identity.actor, "run.refused", { ...refusalData(plan, err.exitCode), ...(requestId ? { requestId } : {}), reasons: [err.message] });
    }
    throw err;
  }
}

/** The previews the requirements ask for; a failing or hanging one refuses the request (77, audited). */
async function previewsOrRefuse(ctx: Context, plan: Plan, identity: Identity): Promise<PreviewResult[]> {
  try {
    return await runPreviews(ctx, plan, "no request was made");
  } catch (err) {
    if (err instanceof GuardError) await auditBestEffort(ctx, identity.actor, "run.refused", { ...refusalData(plan, err.exitCode), reasons: [err.message] });
    throw err;
  }
}

async function requesterIdentity(ctx: Context, plan: Plan): Promise<Identity> {
  const identity = await identify(ctx, plan.policy);
  if (plan.decision.protected && !identity.principal) {
    await auditBestEffort(ctx, identity.actor, "run.refused", { ...refusalData(plan, ExitCode.DENIED), reasons: ["requester key is not a principal of the policy"] });
    throw because("not-principal", deniedError(
      `your key ${identity.signer.publicKey.fingerprint} is not listed in the policy: in a protected environment the requester must be a known principal`,
      "ask an SRE to add your public key under principals:, or pass --key with a key that is listed (guard whoami shows yours)",
    ));
  }
  return identity;
}

/**
 * A request nobody could ever approve (the only eligible approvers are the requester, or too few people
 * are in the groups) would wait until it expires: refuse it at once and say who is missing.
 */
export function refuseUnapprovable(plan: Plan, identity: Identity): void {
  const none = unapprovable(plan.policy, plan.decision.requirements, identity.principal?.name ?? null, identity.signer.publicKey.fingerprint);
  if (none === null) return;
  const r = none.requirement;
  throw because("unapprovable", deniedError(
    `nobody else can approve this run: rule ${esc(r.rule)} needs ${r.approvals} approval${r.approvals === 1 ? "" : "s"}${r.from ? ` from ${r.from.map(esc).join(" or ")}` : ""}, and the only eligible people other than you are: ${none.eligible.join(", ") || "none"}`,
    "ask an SRE to add approvers to the policy; no request was created",
  ));
}

async function obtainReason(ctx: Context, plan: Plan, opts: RunOptions): Promise<string | null> {
  const given = opts.reason?.trim();
  if (given) return given;
  if (!plan.decision.requirements.some((r) => r.reason)) return null;
  if (!ctx.rt.interactive()) throw because("reason-missing", usageError("this run needs a reason", `pass --reason "…" (rule ${plan.decision.requirements.find((r) => r.reason)?.rule})`));
  return (
    await ctx.rt.ask("Reason for this run (shown to the approver):", {
      validate: (v) => (v.trim() ? true : "a reason is required"),
      cancelled: "cancelled: no request was created and nothing ran",
    })
  ).trim();
}

/** Without a terminal a missing --confirm is said at once (64), before a request is made or waited for. */
function assertConfirmable(ctx: Context, plan: Plan, opts: RunOptions): void {
  if (opts.confirm !== undefined || !plan.decision.requirements.some((r) => r.confirm) || ctx.rt.interactive()) return;
  const env = plan.decision.environment ?? "";
  throw usageError("this run needs typed confirmation of the target, and there is no terminal to type it at", `pass --confirm ${env}; no request was created and nothing ran`);
}

/** Typed confirmation of the environment's name (--confirm ENV without a terminal). */
async function confirmTarget(ctx: Context, plan: Plan, opts: RunOptions, always: boolean): Promise<void> {
  if (!always && !plan.decision.requirements.some((r) => r.confirm)) return;
  const env = plan.decision.environment ?? "";
  if (opts.confirm !== undefined) {
    const n = normaliseEnvName(plan.policy, opts.confirm);
    if (!n.ok || n.name !== env) throw because("confirm-mismatch", deniedError(`--confirm ${esc(opts.confirm)} does not name the target ${env}; nothing ran`, `pass --confirm ${env}`));
    return;
  }
  if (!ctx.rt.interactive()) throw because("confirm-missing", usageError(`this run needs typed confirmation of the target`, `pass --confirm ${env}`));
  const typed = await ctx.rt.ask(`Type ${colours().bold(env)} to run against it:`, { cancelled: "cancelled at confirmation: nothing ran; the approval was not used" });
  if (typed.trim() !== env) throw because("confirm-mismatch", deniedError(`confirmation ${JSON.stringify(typed)} does not match ${env}; nothing ran and the approval was not used`));
}

function announceRequest(loaded: LoadedRequest): void {
  const c = colours();
  const req = loaded.signed.request;
  say(`${c.yellow.bold("guard: approval required")} — request ${c.bold(req.id)} created, expires ${localTime(req.expiresAt)}`);
  for (const r of loaded.assessment.requirements) {
    say(`  needs ${r.needed} approval${r.needed === 1 ? "" : "s"}${r.requirement.from ? ` from ${r.requirement.from.map(esc).join(" or ")}` : ""}; eligible: ${r.eligible.map(esc).join(", ") || "(nobody!)"}`);
  }
  say(`  hand this to a colleague:  ${c.bold(`guard approve ${req.id}`)}`);
}

/** The approvals so far and the time left: the request's, or the wait's (`until`) when that ends first. */
function statusText(loaded: LoadedRequest, until = Infinity): string {
  const parts = loaded.assessment.requirements.map(
    (r) => `${r.approvedBy.length}/${r.needed}${r.requirement.from ? ` ${r.requirement.from.join("|")}` : ""}${r.approvedBy.length ? ` (${r.approvedBy.map(esc).join(", ")})` : ""}`,
  );
  const left = Math.max(0, Math.round((Math.min(Date.parse(loaded.signed.request.expiresAt), until) - loaded.now) / 1000));
  return `approvals ${parts.join(", ")} — ${formatDuration(left)} left`;
}

function pendingError(loaded: LoadedRequest): GuardError {
  const id = loaded.signed.request.id;
  return new GuardError(
    ExitCode.APPROVAL_NEEDED,
    `approval pending for request ${id}: ${statusText(loaded)}`,
    `a colleague runs: guard approve ${id}   — then run the same command again (or: guard run --request ${id})`,
    [],
    "approval-needed",
  );
}

function deniers(loaded: LoadedRequest): string {
  const d = loaded.assessment.deniedBy;
  return d.length ? ` by ${d.map((x) => `${esc(x.principal)}${x.comment ? ` ("${esc(x.comment)}")` : ""}`).join(", ")}` : "";
}

/**
 * Derive, never trust, at the last moment: the rules and requirements the request carries must be
 * exactly what the policy in force gives for the real invocation (planned from the world, not from the
 * record). The binding matched, so a genuine guard wrote exactly these; a difference is a forgery (65).
 */
function assertClaimsDerived(plan: Plan, loaded: LoadedRequest): void {
  const diffs = claimDifferences(loaded.signed.request, plan.decision);
  if (diffs.length === 0) return;
  throw new GuardError(
    ExitCode.INTEGRITY,
    `request ${loaded.signed.request.id} claims ${diffs.join(", ")} that the policy in force does not give for this run: it was forged or edited after signing; nothing ran and nothing was consumed`,
    "the store may have been tampered with; run `guard audit verify` and tell your SREs",
  );
}

function replayError(id: string): GuardError {
  return because("replay", deniedError(`request ${id} has already been used: an approval runs exactly once`, "ask for a new approval"));
}

function requestInvalid(loaded: LoadedRequest): GuardError {
  return new GuardError(ExitCode.INTEGRITY, `request ${loaded.signed.request.id} does not verify: ${loaded.assessment.problems.join("; ")}`, "the store may have been tampered with; run `guard audit verify`");
}

async function waitForApproval(ctx: Context, plan: Plan, loaded: LoadedRequest, waitMs: number, tty: boolean, trace?: RunTrace): Promise<LoadedRequest> {
  const store = await ctx.store();
  const id = loaded.signed.request.id;
  const deadline = loaded.now + waitMs;
  const controller = new AbortController();
  const stopListening = ctx.rt.onInterrupt(() => controller.abort());
  let lastText = "";
  // The live line at a terminal, fitted to its width (a wrapped line would leave a new line every second);
  // anything said after it starts on a line of its own.
  let drawn = false;
  // Watch first, then read: an approval stored at any moment from here on ends the next wait at once.
  const watch = await store.watchRequest(id);
  try {
    // The store's clock read again on every look: a wait ends by the same clock that decides expiry.
    await ctx.tick();
    loaded = await assess(ctx, plan.policy, loaded.signed);
    if (trace) trace.request = loaded;
    for (;;) {
      const status = loaded.assessment.status;
      if (!loaded.assessment.requestValid) throw requestInvalid(loaded);
      if (status === "approved") {
        if (tty) eraseLine();
        drawn = false;
        say(`${colours().green("guard: approved")} — ${statusText(loaded)}`);
        return loaded;
      }
      if (status === "denied") throw because("request-denied", deniedError(`request ${id} was denied${deniers(loaded)}`));
      if (status === "consumed") throw because("replay", deniedError(`request ${id} has already been used`));
      if (status === "expired") throw new GuardError(ExitCode.APPROVAL_NEEDED, `request ${id} expired before it was approved`, "create a new request");
      if (status === "void") throw deniedError(`request ${id} was made under another policy than the one in force`, "create a new request");
      if (loaded.now >= deadline) throw pendingError(loaded);
      const text = `waiting for approval of ${id}: ${statusText(loaded, deadline)}  (Ctrl-C stops waiting; the request is kept)`;
      if (tty) {
        drawLine(text);
        drawn = true;
      }
      else if (text.replace(/\d+[smhd]\S* left/, "") !== lastText.replace(/\d+[smhd]\S* left/, "")) say(text);
      lastText = text;
      await watch.wait(Math.max(50, Math.min(1000, deadline - loaded.now)), controller.signal);
      if (controller.signal.aborted) {
        throw new GuardError(ExitCode.APPROVAL_NEEDED, `stopped waiting; request ${id} is kept`, `run the same command again later, or: guard run --request ${id}`, [], "approval-needed");
      }
      await ctx.tick();
      loaded = await assess(ctx, plan.policy, loaded.signed);
      // What the CI report shows when the wait ends without an approval: the latest count.
      if (trace) trace.request = loaded;
    }
  } finally {
    watch.close();
    if (drawn) writeStderr("\n");
    stopListening();
  }
}
