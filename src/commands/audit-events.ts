/**
 * Appending audit events from commands. A refusal that cannot be audited is still a refusal (the
 * failure is reported); anything that is about to run or consume must be audited first, or nothing runs.
 *
 * Refusals are recorded in one place: withContext (context.ts) gives each deciding command a refusal
 * scope, and when the command ends in a refusal (exit 64, 65 or 77) recordRefusal appends exactly one
 * event for it — bounded in size and rate (core/refusal.ts). A step that knows more about the refusal
 * (the plan, the request) hands its data over with auditBestEffort(…, "run.refused", …); the event is
 * then written with the error's code and message.
 */
import type { AuditActor, AuditEvent } from "../core/types.js";
import { ExitCode, type GuardError } from "../core/errors.js";
import { boundEventData, defaultRefusalCode } from "../core/refusal.js";
import { sha256Hex } from "../core/canonical.js";
import type { AuditEventType } from "../core/audit-types.js";
import { say, colours } from "../adapters/output.js";
import { admitLimited, limitsDir } from "../adapters/refusal-limits.js";
import { principalForKey, type Context, type RefusalScope } from "./context.js";
export type { RefusalScope };

export async function auditOrFail(ctx: Context, actor: AuditActor, type: AuditEventType, data: Record<string, unknown>): Promise<AuditEvent> {
  const store = await ctx.store();
  return store.appendAudit({ type, actor, data });
}

/**
 * For refusals: record if possible, warn if not, never turn a refusal into something else. A `*.refused`
 * event inside a refusal scope is kept for recordRefusal, which writes it once, with the error's code.
 */
export async function auditBestEffort(ctx: Context, actor: AuditActor, type: AuditEventType, data: Record<string, unknown>): Promise<void> {
  if (type.endsWith(".refused") && ctx.refusal.scope) {
    ctx.refusal.pending = { actor, data };
    return;
  }
  try {
    await auditOrFail(ctx, actor, type, data);
  } catch (err) {
    warnUnrecorded(err);
  }
}

/** What a deciding command's refusals are recorded as. */
/** The exit codes of refusals: usage (about a request), integrity, denied. */
export function isRefusal(err: GuardError): boolean {
  return err.exitCode === ExitCode.USAGE || err.exitCode === ExitCode.INTEGRITY || err.exitCode === ExitCode.DENIED;
}

/**
 * Append the one event of a refusal (err null: a step recorded a refusal and the command went on).
 * Never throws: the refusal stands whether or not it could be recorded.
 */
export async function recordRefusal(ctx: Context, err: GuardError | null): Promise<void> {
  const { scope, pending } = ctx.refusal;
  ctx.refusal.pending = undefined;
  if (!scope || (err === null && !pending)) return;
  const actor = pending?.actor ?? ctx.refusal.actor ?? (await keyHolder(ctx));
  const exitCode = err?.exitCode ?? (typeof pending?.data.exitCode === "number" ? pending.data.exitCode : ExitCode.DENIED);
  const code = err?.refusal ?? defaultRefusalCode(exitCode);
  const data: Record<string, unknown> = { ...scope.data, ...pending?.data, code, exitCode };
  if (err) data.message = err.message;
  if (data.requestId === undefined && scope.requestId !== undefined) data.requestId = scope.requestId;
  try {
    // Per store, actor, event type and code; hashed, so the state file holds no store URL or name.
    const key = sha256Hex(JSON.stringify([ctx.settings.store, scope.type, code, actor.principal, actor.fingerprint, actor.user]));
    let carried = 0;
    try {
      const admission = await admitLimited(limitsDir(ctx.env, ctx.home), key, await ctx.now());
      if (!admission.record) {
        say(colours().dim(`guard: this refusal was not added to the audit log: more than the limit of identical refusals in a minute (the next one logged counts it)`));
        return;
      }
      carried = admission.carried;
    } catch {
      // The limiter could not be consulted: record (a refusal is never lost to the limiter).
    }
    if (carried > 0) data.suppressed = carried;
    await auditOrFail(ctx, actor, scope.type, boundEventData(data));
  } catch (e) {
    warnUnrecorded(e);
  }
}

/**
 * Who refused before guard looked at their key: the key they would sign with, when it can be read (its
 * public half; never a prompt), with their principal under the policy; else only the user name.
 */
async function keyHolder(ctx: Context): Promise<AuditActor> {
  try {
    const signer = await ctx.signer();
    const policy = await ctx.policy().then((p) => p.policy, () => null);
    const principal = policy ? principalForKey(policy, signer.publicKey) : null;
    return { principal: principal?.name ?? null, fingerprint: signer.publicKey.fingerprint, user: ctx.user };
  } catch {
    return { principal: null, fingerprint: null, user: ctx.user };
  }
}

function warnUnrecorded(err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  say(`${colours().yellow("guard: warning:")} could not record this refusal in the audit log: ${message}`);
}
