/**
 * The audit event types guard writes, and `guard audit log --type`: an exact type (`run.started`) or a
 * family (`approval` or `approval.`: every `approval.*`). Anything else is a usage error that lists the
 * known ones, never a silently empty log.
 */
export const AUDIT_EVENT_TYPES = [
  "run.refused",
  "request.refused",
  "approval.refused",
  "request.created",
  "approval.recorded",
  "run.intent",
  "request.consumed",
  "run.started",
  "run.finished",
  "breakglass.used",
  "policy.error",
  "notify.failed",
  "store.unlocked",
  "store.pruned",
  "store.refused",
  "credentials.issued",
  "credentials.revoked",
  "credentials.revoke_failed",
  "credentials.swept",
] as const;
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** The families: the part of each type before its dot. */
export const AUDIT_EVENT_FAMILIES: readonly string[] = [...new Set(AUDIT_EVENT_TYPES.map((t) => t.slice(0, t.indexOf("."))))];

export type TypeFilter = { ok: true; matches: (type: string) => boolean } | { ok: false; known: string };

export function auditTypeFilter(arg: string): TypeFilter {
  const wanted = arg.trim();
  if ((AUDIT_EVENT_TYPES as readonly string[]).includes(wanted)) return { ok: true, matches: (t) => t === wanted };
  const family = wanted.endsWith(".") ? wanted.slice(0, -1) : wanted;
  if (AUDIT_EVENT_FAMILIES.includes(family)) return { ok: true, matches: (t) => t.startsWith(`${family}.`) };
  return { ok: false, known: `families: ${AUDIT_EVENT_FAMILIES.join(", ")}; types: ${AUDIT_EVENT_TYPES.join(", ")}` };
}
