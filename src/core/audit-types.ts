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

/** `prefix` and `family` say the same as `matches` for an index: the exact type, or (family) the start of one. */
export type TypeFilter = { ok: true; matches: (type: string) => boolean; prefix: string; family: boolean } | { ok: false; known: string };

export function auditTypeFilter(arg: string): TypeFilter {
  const wanted = arg.trim();
  if ((AUDIT_EVENT_TYPES as readonly string[]).includes(wanted)) return { ok: true, matches: (t) => t === wanted, prefix: wanted, family: false };
  const family = wanted.endsWith(".") ? wanted.slice(0, -1) : wanted;
  if (AUDIT_EVENT_FAMILIES.includes(family)) return { ok: true, matches: (t) => t.startsWith(`${family}.`), prefix: `${family}.`, family: true };
  return { ok: false, known: `families: ${AUDIT_EVENT_FAMILIES.join(", ")}; types: ${AUDIT_EVENT_TYPES.join(", ")}` };
}

/** What `guard audit log` filters on; every field optional, all given ones must hold (auditFilterMatches). */
export interface AuditFilter {
  /** Events whose time (Date.parse) is at or after this, epoch ms; a time that is no date matches. */
  sinceMs?: number;
  /** data.requestId is exactly this. */
  requestId?: string;
  /** type is exactly `prefix` (`run.started`), or, with `family`, starts with it (`approval.`). */
  type?: { prefix: string; family: boolean };
  /** actor.principal or actor.fingerprint is exactly this. */
  actor?: string;
}

/**
 * The exact filter of `guard audit log`: what a store's indexes (Store.readAuditFiltered) may only
 * narrow towards, never decide. Fields of a forged event may be of any type: only an exact match counts.
 */
export function auditFilterMatches(e: { time: unknown; type: unknown; actor: unknown; data: unknown }, f: AuditFilter): boolean {
  if (f.sinceMs !== undefined && Date.parse(e.time as string) < f.sinceMs) return false;
  if (f.type !== undefined) {
    if (typeof e.type !== "string") return false;
    if (f.type.family ? !e.type.startsWith(f.type.prefix) : e.type !== f.type.prefix) return false;
  }
  const data = (e.data ?? {}) as { requestId?: unknown };
  if (f.requestId !== undefined && data.requestId !== f.requestId) return false;
  const actor = (e.actor ?? {}) as { principal?: unknown; fingerprint?: unknown };
  if (f.actor !== undefined && actor.principal !== f.actor && actor.fingerprint !== f.actor) return false;
  return true;
}
