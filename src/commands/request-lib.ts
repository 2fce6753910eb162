/**
 * Shared steps of the approval commands: the run binding as it is now, creating and signing a request,
 * and loading a request with everything needed to judge it — always against the CURRENT policy.
 */
import { childAs } from "../adapters/run-as.js";
import { GuardError, ExitCode, because, deniedError, usageError } from "../core/errors.js";
import { newNonce, newRequestId, isRequestId, requestIdPrefix, resolveRequestId } from "../core/ids.js";
import { boundEnvironment } from "../core/bind-env.js";
import { detectorVariables } from "../core/detectors/registry.js";
import { buildRequest, matchingRequests, requestDigest, requestMessage, runBindingKey, validateRequestShape, type RunBinding } from "../core/request.js";
import { escapeForTerminal } from "../core/escape.js";
import { assessRequest, type Assessment } from "../core/approvals.js";
import { verifySshSig } from "../core/sshsig.js";
import type { BoundFile, Policy, PreviewResult, PublicKey, SignedApproval, SignedRequest, StdinBinding } from "../core/types.js";
import { colours, say } from "../adapters/output.js";
import { SIG_NAMESPACE } from "../core/types.js";
import type { hashProgram } from "../adapters/program.js";
import type { Context } from "./context.js";
import type { Store } from "../adapters/store/types.js";
import type { Plan } from "./plan.js";
import type { Identity } from "./identity.js";
import { auditOrFail } from "./audit-events.js";
import { notify } from "./notifications.js";

type Hashed = Awaited<ReturnType<typeof hashProgram>>;

/** The signature check the pure core is given. */
export const verify = (armored: string, message: string, namespace: string, keys: readonly PublicKey[]) =>
  verifySshSig(armored, message, namespace, keys);

/**
 * Stdin is part of what runs. An approver cannot see piped input (C10), so a run that needs approval
 * accepts only a terminal, /dev/null or a closed stdin.
 */
export async function stdinBinding(ctx: Context): Promise<StdinBinding> {
  const kind = await ctx.rt.stdinKind();
  if (kind === "tty") return { kind: "tty" };
  if (kind === "null" || kind === "closed") return { kind: "null" };
  throw because("stdin-not-allowed", deniedError(
    `standard input is a ${kind}: a run that needs approval cannot take piped or redirected input, because the approver cannot see it`,
    "run it at a terminal, or with </dev/null; put the input in a file the command reads by name, so the script's arguments show it",
  ));
}

export function currentBinding(ctx: Context, plan: Plan, identity: Identity, hashed: Hashed, stdin: StdinBinding, files: BoundFile[]): RunBinding {
  return {
    argv: plan.typed,
    program: {
      path: plan.program.path,
      sha256: hashed.sha256,
      relative: plan.program.relativeToRoot,
      ...(plan.program.via ? { via: plan.program.via } : {}),
    },
    files,
    cwd: ctx.cwd,
    environment: { name: plan.decision.environment ?? "", evidence: plan.decision.evidence },
    env: boundEnvironment(plan.policy, plan.childEnv, detectorVariables(plan.policy)),
    stdin,
    policyDigest: plan.policy.digest,
    requesterFingerprint: identity.signer.publicKey.fingerprint,
  };
}

/**
 * The previews the run's requirements ask for, run now as the requester (in order; the first failure
 * refuses). Loaded only when a requirement asks for one.
 */
export async function runPreviews(ctx: Context, plan: Plan, consequence: string): Promise<PreviewResult[]> {
  const wanted = plan.decision.requirements.filter((r) => r.preview !== undefined);
  if (wanted.length === 0) return [];
  const { runPreview } = await import("../adapters/preview.js");
  const out: PreviewResult[] = [];
  for (const r of wanted) {
    out.push(await runPreview({ rule: r.rule, spec: r.preview!, program: plan.program.via?.path ?? plan.program.path, args: plan.argv.slice(1), cwd: ctx.cwd, ...childAs(ctx.invoker(), plan.childEnv), consequence }));
  }
  return out;
}

export async function createSignedRequest(
  ctx: Context,
  plan: Plan,
  identity: Identity,
  binding: RunBinding,
  reason: string | null,
  breakGlass: boolean,
  previews: PreviewResult[] = [],
): Promise<SignedRequest> {
  const store = await ctx.store();
  const now = await ctx.tick();
  const request = buildRequest({
    id: newRequestId(ctx.rt.randomBytes(16)),
    nonce: newNonce(ctx.rt.randomBytes(16)),
    requester: {
      principal: identity.principal?.name ?? null,
      fingerprint: identity.signer.publicKey.fingerprint,
      key: `${identity.signer.publicKey.type} ${identity.signer.publicKey.blob}`,
    },
    argv: binding.argv,
    program: binding.program,
    files: binding.files,
    previews,
    cwd: binding.cwd,
    environment: { name: binding.environment.name, protected: plan.decision.protected, evidence: binding.environment.evidence },
    env: binding.env,
    stdin: binding.stdin,
    reason,
    policyDigest: plan.policy.digest,
    rules: plan.decision.rules,
    requirements: plan.decision.requirements,
    breakGlass,
    now,
  });
  const signature = await identity.signer.sign(requestMessage(request), SIG_NAMESPACE.request);
  const signed: SignedRequest = { request, signature };
  // Write-ahead: the request is recorded in the audit log before it exists in the store.
  await auditOrFail(ctx, identity.actor, "request.created", {
    requestId: request.id,
    requestDigest: requestDigest(request),
    environment: request.environment.name,
    argv: request.argv,
    requester: request.requester.principal,
    breakGlass,
  });
  await store.putRequest(signed);
  // A break-glass run asks nobody first; it is announced as breakglass.used when it runs.
  if (!breakGlass) await notify(ctx, plan.policy, identity.actor, { event: "request.created", request, status: "pending" });
  return signed;
}

export interface LoadedRequest {
  signed: SignedRequest;
  approvals: SignedApproval[];
  consumed: boolean;
  assessment: Assessment;
  now: number;
}

/** The request a person named by its id or a unique prefix of it (`guard show r-3k5q`). */
export async function loadRequest(ctx: Context, policy: Policy, given: string): Promise<LoadedRequest> {
  return assess(ctx, policy, await readRequest(ctx, given));
}

/** The request `given` names (an id or a unique start of one), well-formed and stored under its own id; not yet assessed. */
export async function readRequest(ctx: Context, given: string): Promise<SignedRequest> {
  const store = await ctx.store();
  const id = await resolveId(store, given);
  const signed = await store.getRequest(id);
  if (!signed) throw because("not-found", new GuardError(ExitCode.USAGE, `no request ${id} in the store ${store.description}`, "list requests with `guard requests --all`; check --store / GUARD_STORE", [], "usage"));
  validateRequestShape(signed.request);
  if (signed.request.id !== id) throw new GuardError(ExitCode.INTEGRITY, `the record stored as ${id} describes request ${signed.request.id}`, "the store has been tampered with; run `guard audit verify`");
  return signed;
}

async function resolveId(store: Store, given: string): Promise<string> {
  const prefix = isRequestId(given) ? null : requestIdPrefix(given);
  // Names only: a prefix is resolved without reading any record of history.
  const known = prefix === null ? [] : await store.listRequestIds(prefix);
  const r = resolveRequestId(given, known);
  if (r.ok) return r.id;
  const shown = escapeForTerminal(JSON.stringify(given));
  if (r.problem === "not-an-id") throw usageError(`${shown} is not a request id`, "request ids look like r-abcdefghijklmnopqrst, or a unique start of one (see `guard requests --all`)");
  if (r.problem === "none") throw usageError(`no request id in the store ${store.description} starts with ${shown}`, "list requests with `guard requests --all`; check --store / GUARD_STORE");
  throw new GuardError(ExitCode.USAGE, `${shown} is the start of ${r.candidates.length} request ids; give more of it`, "use one of the ids above (or more of its characters)", r.candidates.map((c) => `candidate: ${c}`), "usage");
}

export async function assess(ctx: Context, policy: Policy, signed: SignedRequest): Promise<LoadedRequest> {
  const store = await ctx.store();
  const [approvals, consumption, now] = await Promise.all([store.listApprovals(signed.request.id), store.getConsumption(signed.request.id), ctx.now()]);
  const consumed = consumption !== null;
  const assessment = assessRequest({ signed, approvals, consumed, policy, now, verify });
  return { signed, approvals, consumed, assessment, now };
}

/**
 * The newest existing request for exactly this run that still verifies: what `guard run -- CMD` and
 * `guard request` pick up. A record that does not verify — forged claims, a bad signature — is passed
 * over with a warning, so nobody who can write the store can stop a requester's genuine request (or
 * make guard use theirs). Null when none is left.
 */
export async function findUsableRequest(ctx: Context, policy: Policy, binding: RunBinding): Promise<LoadedRequest | null> {
  const store = await ctx.store();
  const now = await ctx.now();
  // Through the store's binding index, never all of history; the index is a hint, so every candidate's
  // full binding is still compared here and its signatures verified by assess().
  const candidates = matchingRequests((await store.findRequestsByBinding(runBindingKey(binding), now)).requests, binding, binding.requesterFingerprint, now);
  for (const signed of candidates) {
    const loaded = await assess(ctx, policy, signed);
    if (loaded.assessment.requestValid) return loaded;
    say(`${colours().yellow("guard: warning:")} passing over request ${signed.request.id} for this run: it does not verify (${loaded.assessment.problems.map(escapeForTerminal).join("; ")}); run \`guard audit verify\``);
  }
  return null;
}
