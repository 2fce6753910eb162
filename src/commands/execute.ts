/**
 * The last step of every run: write-ahead audit, (for approved runs) atomic consumption, exec with the
 * terminal, signals and exit status passed through, and the finish event.
 */
import { ExitCode, GuardError, because, deniedError, integrityError, ioError } from "../core/errors.js";
import { newNonce } from "../core/ids.js";
import { requestDigest } from "../core/request.js";
import { childEnvironment } from "../core/bind-env.js";
import { escapeForTerminal as esc } from "../core/escape.js";
import type { AuditActor, SignedRequest } from "../core/types.js";
import { assertInterpreterRunnable, hashProgram, verifyChain, verifyUnchanged } from "../adapters/program.js";
import { runChild, type ChildOutcome } from "../adapters/exec.js";
import { regexEngineFor } from "../adapters/linear-regex.js";
import { probeTarget } from "../adapters/identity-probe.js";
import { identityChanges } from "../core/identity.js";
import { bindFileArguments } from "../adapters/file-args.js";
import { compareFiles } from "../core/file-args.js";
import { previewDifference, samePreview } from "../core/preview.js";
import type { Minted } from "../adapters/credentials.js";
import { childAs } from "../adapters/run-as.js";
import { colours, say } from "../adapters/output.js";
import type { Context } from "./context.js";
import type { Plan } from "./plan.js";
import { auditBestEffort, auditOrFail } from "./audit-events.js";
import { finishNotify, startNotify } from "./notifications.js";
import type { Status } from "../core/errors.js";

type Hashed = Awaited<ReturnType<typeof hashProgram>>;

/** How a run ended: the command's own exit status, or guard's, with the status line's word. */
export interface RunResult {
  exitCode: number;
  status: Status;
}

async function assertSameIdentity(ctx: Context, plan: Plan, actor: AuditActor, req: SignedRequest["request"]): Promise<void> {
  if (!plan.detection.evidence.some((e) => e.source === "identity") && !req.environment.evidence.some((e) => e.source === "identity")) return;
  const again = await probeTarget(plan.policy, { ...plan.detection, evidence: plan.detection.evidence.filter((e) => e.source !== "identity") }, plan.childEnv, ctx.cwd, await regexEngineFor(plan.policy));
  const reasons = [...again.problems.filter((p) => p.startsWith("identity")), ...identityChanges(req.environment.evidence, again.evidence)];
  if (reasons.length === 0) return;
  await auditBestEffort(ctx, actor, "run.refused", { argv: req.argv, requestId: req.id, reasons, exitCode: ExitCode.DENIED });
  throw deniedError(`the target no longer answers as it did when request ${req.id} was approved: ${reasons.join("; ")}`, "nothing ran and the approval was not used; find out why the target changed, then ask for a new approval");
}

function newRunId(ctx: Context): string {
  return `run-${newNonce(ctx.rt.randomBytes(16))}`;
}

/** An allowed run: audit (write-ahead), run, audit the finish. */
export async function executeAllowed(ctx: Context, plan: Plan, actor: AuditActor): Promise<RunResult> {
  ctx.invoker(); // under run_as, who the child runs as is settled (or refused) before anything is minted
  // Hashing a large binary costs time on every run; it is recorded for protected targets only.
  const hashed = plan.decision.protected ? await hashProgram(plan.program.path) : null;
  const runId = newRunId(ctx);
  const minted = await mintFor(ctx, plan, actor, runId, null);
  try {
    await startedOrFail(ctx, actor, {
      runId,
      requestId: null,
      argv: plan.typed,
      program: { path: plan.program.path, sha256: hashed?.sha256 ?? null, via: plan.program.via?.path ?? null },
      environment: plan.decision.environment,
      rules: plan.decision.rules,
      cwd: ctx.cwd,
      breakGlass: false,
    });
    if (hashed) await verifyUnchanged(plan.program.path, hashed);
    await verifyChain(plan.program, hashed?.identity ?? null);
  } catch (err) {
    await revokeMinted(ctx, actor, runId, null, minted);
    throw err;
  }
  return spawnAndFinish(ctx, plan, plan.childEnv, actor, runId, null, undefined, minted);
}

/**
 * An approved (or break-glass) run: re-check the program, audit the intent, consume atomically (exactly
 * one racer wins), audit the start, run.
 */
export async function executeApproved(
  ctx: Context,
  plan: Plan,
  actor: AuditActor,
  signed: SignedRequest,
  hashed: Hashed,
): Promise<RunResult> {
  const req = signed.request;
  ctx.invoker(); // under run_as, who the child runs as is settled (or refused) before anything is used
  await verifyUnchanged(plan.program.path, hashed);
  await verifyChain(plan.program, hashed.identity);
  // Everything execve could still refuse is found out before the approval is used (X5).
  await assertInterpreterRunnable(plan.program.path, plan.argv[0] ?? plan.program.path, { cwd: ctx.cwd, path: plan.childEnv.PATH });
  // The files the arguments name, read again now (the approval may have taken hours): before consuming.
  await assertFilesUnchanged(ctx, plan, actor, signed, false);
  await assertPreviewsUnchanged(ctx, plan, actor, signed);
  await assertNeverConsumed(ctx, req.id);
  // The target is asked again now, right before the approval is used: a database restored or swapped
  // since the approval answers differently, and the approved run does not go to it.
  await assertSameIdentity(ctx, plan, actor, req);
  // Deny by default: the child gets what the request bound (equal to the approved values, compared
  // before this point) and the variables allowed to vary; anything that appeared since is withheld.
  const child = childEnvironment(req.env, plan.childEnv, req.cwd);
  const runId = newRunId(ctx);
  // Credentials are minted after every check and before the approval is used: if minting fails,
  // nothing runs and the same approval runs later.
  const minted = await mintFor(ctx, plan, actor, runId, req.id);
  try {
    return await consumeAndRun(ctx, plan, actor, signed, hashed, child, runId, minted);
  } catch (err) {
    await revokeMinted(ctx, actor, runId, req.id, minted);
    throw err;
  }
}

async function consumeAndRun(
  ctx: Context,
  plan: Plan,
  actor: AuditActor,
  signed: SignedRequest,
  hashed: Hashed,
  child: ReturnType<typeof childEnvironment>,
  runId: string,
  minted: Minted | null,
): Promise<RunResult> {
  const store = await ctx.store();
  const req = signed.request;
  await auditOrFail(ctx, actor, "run.intent", { runId, requestId: req.id, argv: req.argv });
  const won = await store.consume({
    requestId: req.id,
    requestDigest: requestDigest(req),
    consumedAt: new Date(await ctx.tick()).toISOString(),
    by: { principal: actor.principal, fingerprint: actor.fingerprint ?? "" },
    host: ctx.host,
    pid: ctx.rt.pid,
  });
  if (!won) {
    await auditBestEffort(ctx, actor, "run.refused", { argv: req.argv, requestId: req.id, reasons: ["request already consumed (replay)"], exitCode: ExitCode.DENIED });
    throw because("replay", deniedError(`request ${req.id} has already been used: an approval runs exactly once`, "ask for a new approval: guard request -- …"));
  }
  try {
    await auditOrFail(ctx, actor, "request.consumed", { requestId: req.id, runId });
    await auditOrFail(ctx, actor, "run.started", {
      runId,
      requestId: req.id,
      argv: req.argv,
      program: { path: req.program.path, sha256: req.program.sha256, via: req.program.via?.path ?? null },
      environment: req.environment.name,
      rules: req.rules,
      cwd: req.cwd,
      breakGlass: req.breakGlass,
      envWithheld: child.withheld,
    });
  } catch (err) {
    // Past the single-use gate: the approval is spent whatever happens now. Say so plainly.
    if (err instanceof GuardError && err.exitCode === ExitCode.IO) {
      throw ioError(
        `${err.message}; nothing was run, but approval ${req.id} was already used up (it is single-use) — ask for a new approval`,
        "`guard audit verify` reports this run as interrupted: consumed, never started",
      );
    }
    throw err;
  }
  if (child.withheld.length > 0) {
    say(colours().dim(`guard: not passed to the command (not in the approved request): ${child.withheld.map((n) => esc(n)).join(", ")}`));
  }
  // Last look, immediately before exec: the file that was hashed is the file that runs, reached through
  // the links that were bound.
  await verifyUnchanged(plan.program.path, hashed);
  await verifyChain(plan.program, hashed.identity);
  await assertFilesUnchanged(ctx, plan, actor, signed, true);
  return spawnAndFinish(ctx, plan, child.env, actor, runId, req.id, await runNotifications(ctx, plan, actor, signed, runId), minted);
}

/**
 * Fresh credentials for this run when its environment has `credentials:`; null otherwise. A failure is
 * a refusal (audited): nothing runs, and no approval has been used yet.
 */
async function mintFor(ctx: Context, plan: Plan, actor: AuditActor, runId: string, requestId: string | null): Promise<Minted | null> {
  const environment = plan.decision.environment;
  const creds = environment ? plan.policy.environments[environment]?.credentials : undefined;
  if (!environment || !creds) return null;
  let minted: Minted;
  try {
    // Loaded only for an environment that mints credentials (docs/benchmarks.md: what a run compiles).
    const { mintCredentials } = await import("../adapters/credentials.js");
    minted = await mintCredentials(creds, { env: ctx.env, runId, requestId, environment });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    await auditBestEffort(ctx, actor, "run.refused", { argv: plan.typed, requestId, environment, reasons: [`credentials could not be minted: ${message}`], exitCode: err instanceof GuardError ? err.exitCode : ExitCode.INTERNAL });
    throw err;
  }
  try {
    await auditOrFail(ctx, actor, "credentials.issued", { runId, requestId, environment, ...minted.issued });
  } catch (err) {
    await revokeMinted(ctx, actor, runId, requestId, minted);
    throw err;
  }
  const what = minted.issued.provider === "postgres"
    ? `role ${String(minted.issued.role)} (member of ${(minted.issued.grant as string[]).join(", ")}) in ${String(minted.issued.exported)}, valid until ${String(minted.issued.validUntil)}`
    : `${(minted.issued.variables as string[]).join(", ")}, valid until ${esc(String(minted.issued.expires))}`;
  say(colours().dim(`guard: per-run credentials for this command only: ${what}`));
  return minted;
}

/** Revoke what was minted (once), and record it; a failure is a warning and an audit event, never silent. */
const revokedOnce = new WeakSet<Minted>();
async function revokeMinted(ctx: Context, actor: AuditActor, runId: string, requestId: string | null, minted: Minted | null): Promise<void> {
  if (!minted || revokedOnce.has(minted)) return;
  revokedOnce.add(minted);
  const r = await minted.revoke();
  if (!r.ok) say(`${colours().yellow("guard: warning:")} ${r.message ?? "the per-run credentials could not be revoked"}`);
  try {
    await auditOrFail(ctx, actor, r.ok ? "credentials.revoked" : "credentials.revoke_failed", { runId, requestId, ...r.data });
  } catch (err) {
    say(`${colours().yellow("guard: warning:")} could not record the revocation of this run's credentials: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * Every argument that names a file still names the very content that was bound (and none names a file
 * that was not there): else 77, naming each argument, audited. `consumed`: the last look after the
 * approval was used (it is spent then, and the message says so).
 */
async function assertFilesUnchanged(ctx: Context, plan: Plan, actor: AuditActor, signed: SignedRequest, consumed: boolean): Promise<void> {
  const req = signed.request;
  const diffs = compareFiles(req.files, await bindFileArguments(plan.typed, ctx.cwd, plan.typed.length - plan.argv.length + 1));
  if (diffs.length === 0) return;
  await auditBestEffort(ctx, actor, "run.refused", {
    argv: req.argv,
    requestId: req.id,
    reasons: ["a file named in the arguments changed since the request was made"],
    differences: diffs.map((d) => `file argv[${d.arg}]`),
    exitCode: ExitCode.DENIED,
  });
  throw deniedError(
    `a file named in the arguments is not the one that was approved: ${diffs.map((d) => d.label).join(", ")}; nothing ran${consumed ? `, but approval ${req.id} was already used up (it is single-use)` : ` and approval ${req.id} was not used`}`,
    "do not edit files named in an approved run; if the change is intended, request a new approval so that an approver sees the new content",
    diffs.flatMap((d) => [`file ${d.label}:`, `  approved: ${d.approved}`, `  now:      ${d.current}`]),
  );
}

/**
 * `recheck: true`: run the preview again now, before the approval is consumed, and refuse (77, showing
 * what changed) when it reads differently from the one the approvers saw. Which previews are rechecked is
 * the policy in force's word (the request's requirements were checked to be exactly its derivation).
 */
async function assertPreviewsUnchanged(ctx: Context, plan: Plan, actor: AuditActor, signed: SignedRequest): Promise<void> {
  const req = signed.request;
  const recheck = plan.decision.requirements.filter((r) => r.preview?.recheck === true);
  if (recheck.length === 0 || req.breakGlass) return;
  const { runPreview } = await import("../adapters/preview.js");
  for (const r of recheck) {
    const approved = req.previews?.find((p) => p.rule === r.rule);
    const refuse = async (message: string, details: string[]): Promise<never> => {
      await auditBestEffort(ctx, actor, "run.refused", { argv: req.argv, requestId: req.id, reasons: [message], exitCode: ExitCode.DENIED });
      throw deniedError(message, "an approval covers the preview its approvers saw; if the change is expected, request a new approval so that they see the new preview", details);
    };
    if (!approved) await refuse(`request ${req.id} carries no preview for rule ${r.rule}, which asks for one: nothing ran and the approval was not used`, []);
    const now = await runPreview({
      rule: r.rule,
      spec: r.preview!,
      program: plan.program.via?.path ?? plan.program.path,
      args: plan.argv.slice(1),
      cwd: ctx.cwd,
      ...childAs(ctx.invoker(), plan.childEnv),
      consequence: `nothing ran and approval ${req.id} was not used`,
    });
    if (!samePreview(approved!, now)) {
      await refuse(`the preview of rule ${r.rule} now reads differently from the one that was approved: nothing ran and approval ${req.id} was not used`, previewDifference(approved!, now));
    }
  }
}

/**
 * Webhooks for a run of a request: run.started (and breakglass.used) are sent as the command starts but
 * waited for only after it exits, so a slow webhook never delays the command; run.finished follows them.
 * Undefined, and nothing loaded, when the policy has no webhooks.
 */
async function runNotifications(ctx: Context, plan: Plan, actor: AuditActor, signed: SignedRequest, runId: string): Promise<((r: ChildOutcome) => Promise<void>) | undefined> {
  if (!plan.policy.notifications) return undefined;
  const req = signed.request;
  const started = [
    req.breakGlass ? startNotify(ctx, plan.policy, { event: "breakglass.used", request: req, status: "consumed" }) : null,
    startNotify(ctx, plan.policy, { event: "run.started", request: req, status: "consumed", run: { id: runId } }),
  ];
  return async (r) => {
    // In order: a channel should never read "finished" before "started".
    await finishNotify(ctx, actor, started, req.id);
    const run = { id: runId, exitCode: r.exitCode, signal: r.signal, durationMs: Math.round(r.durationMs) };
    await finishNotify(ctx, actor, [startNotify(ctx, plan.policy, { event: "run.finished", request: req, status: "consumed", run })], req.id);
  };
}

/**
 * S3: a consumption record deleted from the store to replay an approval. The audit chain still says the
 * request was consumed (and cannot lose that event without `audit verify` seeing it), so it is the
 * second witness: a request it records as consumed never runs again, whatever the store's records say.
 */
async function assertNeverConsumed(ctx: Context, requestId: string): Promise<void> {
  const store = await ctx.store();
  for await (const e of store.consumedEvents ? store.consumedEvents(requestId) : store.readAudit()) {
    if (e.type === "request.consumed" && e.data.requestId === requestId) {
      // A racing run may have consumed it since this one looked: then it is an ordinary replay.
      if (await store.getConsumption(requestId)) {
        throw because("replay", deniedError(`request ${requestId} has already been used: an approval runs exactly once`, "ask for a new approval: guard request -- …"));
      }
      throw integrityError(
        `the audit log records request ${requestId} as already consumed (event ${e.seq}), but the store has no consumption record`,
        "the store has been tampered with (a consumption deleted to replay the approval); nothing ran — run `guard audit verify`",
      );
    }
  }
}

async function startedOrFail(ctx: Context, actor: AuditActor, data: Record<string, unknown>): Promise<void> {
  try {
    await auditOrFail(ctx, actor, "run.started", data);
  } catch (err) {
    if (err instanceof GuardError && err.exitCode === ExitCode.IO) {
      throw ioError(`${err.message}; nothing was run, because a run the audit log cannot record never starts`, err.hint);
    }
    throw err;
  }
}

async function spawnAndFinish(
  ctx: Context,
  plan: Plan,
  env: Record<string, string | undefined>,
  actor: AuditActor,
  runId: string,
  requestId: string | null,
  afterRun?: (r: ChildOutcome) => Promise<void>,
  minted: Minted | null = null,
): Promise<RunResult> {
  // Through the path found when it is a link (pg_wrapper and busybox choose by that name): verifyChain
  // has just checked that it leads to the real file that was checked.
  let result: ChildOutcome;
  try {
    // The minted variables replace what the invocation had (DATABASE_URL as bound decided the target;
    // the child connects with its own per-run credentials, which are never bound or stored).
    // Under run_as (the bastion), the child runs as the person who invoked sudo, with their HOME, USER
    // and LOGNAME: never as guard, which can read the admin source (SECURITY.md L-K1).
    const as = childAs(ctx.invoker(), minted ? { ...env, ...minted.env } : env);
    result = await runChild({ file: plan.program.via?.path ?? plan.program.path, argv: plan.argv, cwd: ctx.cwd, stdio: ctx.rt.childStdio, ...as });
  } finally {
    // Exit, signal or a failed start: the credentials end with the child.
    await revokeMinted(ctx, actor, runId, requestId, minted);
  }
  try {
    await auditOrFail(ctx, actor, "run.finished", {
      runId,
      requestId,
      exitCode: result.exitCode,
      signal: result.signal,
      durationMs: Math.round(result.durationMs),
    });
  } catch (err) {
    say(`${colours().yellow("guard: warning:")} the command finished (exit ${result.exitCode}) but its end could not be recorded: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (afterRun) await afterRun(result);
  return { exitCode: result.exitCode, status: "ran" };
}
