/**
 * Appending audit events from commands. A refusal that cannot be audited is still a refusal (the
 * failure is reported); anything that is about to run or consume must be audited first, or nothing runs.
 */
import type { AuditActor, AuditEvent } from "../core/types.js";
import type { GuardError } from "../core/errors.js";
import type { AuditEventType } from "../core/audit-types.js";
import { say, colours } from "../adapters/output.js";
import type { Context } from "./context.js";

export async function auditOrFail(ctx: Context, actor: AuditActor, type: AuditEventType, data: Record<string, unknown>): Promise<AuditEvent> {
  const store = await ctx.store();
  return store.appendAudit({ type, actor, data });
}

/** For refusals: record if possible, warn if not, never turn a refusal into something else. */
export async function auditBestEffort(ctx: Context, actor: AuditActor, type: AuditEventType, data: Record<string, unknown>): Promise<void> {
  try {
    await auditOrFail(ctx, actor, type, data);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    say(`${colours().yellow("guard: warning:")} could not record this refusal in the audit log: ${(err as GuardError).message ?? message}`);
  }
}
