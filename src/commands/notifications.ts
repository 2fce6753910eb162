/**
 * Telling the policy's webhooks about requests, approvals and runs: started without delaying anything,
 * waited for when nothing else is, every failure a warning and a `notify.failed` event.
 */
import type { NotificationFacts } from "../core/notify.js";
import type { AuditActor, Policy } from "../core/types.js";
import type { DeliveryResult } from "../adapters/notify.js";
import { colours, say } from "../adapters/output.js";
import { escapeForTerminal as esc } from "../core/escape.js";
import type { Context } from "./context.js";
import { auditOrFail } from "./audit-events.js";

export type NotifyFacts = Omit<NotificationFacts, "host" | "version" | "time">;
export type PendingNotifications = Promise<DeliveryResult[]> | null;

/**
 * Start telling the policy's webhooks about an event. Null, and nothing loaded, when the policy has no
 * webhooks: notifications cost nothing on the hot path. The promise never rejects.
 */
export function startNotify(ctx: Context, policy: Policy, facts: NotifyFacts): PendingNotifications {
  const notifications = policy.notifications;
  if (!notifications) return null;
  const time = ctx.rt.now();
  return import("../adapters/notify.js").then(
    (m) => m.deliverNotifications(notifications, { ...facts, host: ctx.host, version: m.GUARD_VERSION, time }),
    (err: unknown) => [{ webhook: "(all)", event: facts.event, ok: false, error: `the notifier could not be loaded (${err instanceof Error ? err.message : String(err)})` }],
  );
}

/**
 * Wait for deliveries started by startNotify, then warn about and audit each failure (`notify.failed`).
 * Successes are not audited: the log records decisions, and a courtesy message is not one. Never
 * throws: a failing webhook never changes what guard does or how it exits.
 */
export async function finishNotify(ctx: Context, actor: AuditActor, pending: readonly PendingNotifications[], requestId: string): Promise<void> {
  const started = pending.filter((p): p is Promise<DeliveryResult[]> => p !== null);
  if (started.length === 0) return;
  const results = (await Promise.all(started)).flat();
  for (const r of results) {
    if (r.ok) continue;
    say(`${colours().yellow("guard: warning:")} webhook ${esc(r.webhook)} failed: ${esc(r.error ?? "unknown error")}`);
    try {
      await auditOrFail(ctx, actor, "notify.failed", { webhook: r.webhook, event: r.event, error: r.error ?? "unknown error", requestId });
    } catch (err) {
      say(`${colours().yellow("guard: warning:")} could not record the failed notification in the audit log: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

/** Notify and wait (bounded by each webhook's timeout): for events nobody is waiting on a command for. */
export async function notify(ctx: Context, policy: Policy, actor: AuditActor, facts: NotifyFacts): Promise<void> {
  await finishNotify(ctx, actor, [startNotify(ctx, policy, facts)], facts.request.id);
}

