/**
 * Delivering notifications to the policy's webhooks: one POST of a JSON body per webhook, all in
 * parallel, each bounded by its timeout, with one quick retry when the connection itself failed.
 *
 * A notification is a courtesy, never a gate: nothing here throws, and a failure comes back as a result
 * for the caller to report. A failure says what happened (HTTP status, timeout, connection error code)
 * and never echoes the URL or the server's answer: the URL is usually the webhook's secret, and the
 * answer is text from someone else.
 *
 * Node's own fetch: it needs no dependency, takes an AbortSignal for the timeout, and refuses a URL with
 * userinfo, so credentials in the URL are sent as a Basic authorization header instead.
 */
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { payloadFor, webhooksFor, type NotificationFacts } from "../core/notify.js";
import { safeJson } from "../core/escape.js";
import type { Notifications, NotifyEvent, Webhook } from "../core/types.js";

declare const __GUARD_VERSION__: string | undefined;
/** The version the bundle was built as ("dev" when run from source, as the tests do). */
export const GUARD_VERSION = typeof __GUARD_VERSION__ === "string" ? __GUARD_VERSION__ : "dev";

export interface DeliveryResult {
  webhook: string;
  event: NotifyEvent;
  ok: boolean;
  /** Why it failed, e.g. "HTTP 500", "timed out after 3s", "connection failed (ECONNREFUSED)". */
  error?: string;
}

/** Errors where the request most likely never reached the server (or met a stale kept-alive socket). */
const RETRYABLE = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "EAI_AGAIN", "UND_ERR_SOCKET"]);
const RETRY_DELAY_MS = 200;

/**
 * Send `facts` to every webhook of `notifications` that wants its event and environment. Resolves once
 * each has answered, failed or timed out; never rejects.
 */
export async function deliverNotifications(notifications: Notifications | undefined, facts: NotificationFacts): Promise<DeliveryResult[]> {
  const hooks = webhooksFor(notifications, facts.event, facts.request.environment.name);
  return Promise.all(
    hooks.map(async (hook): Promise<DeliveryResult> => {
      try {
        const error = await deliver(hook, facts.event, safeJson(payloadFor(hook, facts)));
        return error === null ? { webhook: hook.name, event: facts.event, ok: true } : { webhook: hook.name, event: facts.event, ok: false, error };
      } catch (err) {
        // Unreachable by design; still, a notification must never turn into a failed command.
        return { webhook: hook.name, event: facts.event, ok: false, error: `internal error (${err instanceof Error ? err.name : typeof err})` };
      }
    }),
  );
}

/** POST `body` to the webhook; null when it answered 2xx, else what went wrong (no URL in it). */
export async function deliver(hook: Pick<Webhook, "url" | "timeoutSeconds">, event: NotifyEvent, body: string): Promise<string | null> {
  const { url, authorization } = splitCredentials(hook.url);
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "user-agent": `access-guard/${GUARD_VERSION}`,
    "x-guard-event": event,
    ...(authorization ? { authorization } : {}),
  };
  const timedOut = `timed out after ${hook.timeoutSeconds}s`;
  const deadline = performance.now() + hook.timeoutSeconds * 1000;
  for (let attempt = 1; ; attempt++) {
    const remaining = Math.floor(deadline - performance.now());
    if (remaining <= 0) return timedOut;
    try {
      // Redirects are not followed: a 3xx could move the payload (and the credentials) elsewhere.
      const res = await fetch(url, { method: "POST", headers, body, redirect: "manual", signal: AbortSignal.timeout(remaining) });
      await res.body?.cancel().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return null;
      return res.status >= 300 && res.status < 400 ? `HTTP ${res.status} (a redirect, which guard does not follow)` : `HTTP ${res.status}`;
    } catch (err) {
      if (isTimeout(err)) return timedOut;
      const code = errorCode(err);
      if (code && RETRYABLE.has(code) && attempt === 1 && deadline - performance.now() > 2 * RETRY_DELAY_MS) {
        await sleep(RETRY_DELAY_MS);
        continue;
      }
      if (code) return `connection failed (${code})`;
      // fetch refuses some ports outright (the Fetch standard's "bad ports": 1, 9, 25, 6000, …).
      if (causeMessage(err) === "bad port") return "fetch refuses to connect to this port (a blocked port, see the Fetch standard)";
      return `request failed (${err instanceof Error ? err.name : "unknown error"})`;
    }
  }
}

/** fetch refuses URLs with userinfo: move it into an Authorization header. */
function splitCredentials(raw: string): { url: string; authorization?: string } {
  const u = new URL(raw);
  if (u.username === "" && u.password === "") return { url: raw };
  const user = decodeOr(u.username);
  const password = decodeOr(u.password);
  u.username = "";
  u.password = "";
  return { url: u.href, authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` };
}

/** Percent-decoded, or as written when the escapes are malformed (the server then says no). */
function decodeOr(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function isTimeout(err: unknown): boolean {
  return err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
}

function causeMessage(err: unknown): string | null {
  const cause = (err as { cause?: unknown } | null)?.cause;
  return cause instanceof Error ? cause.message : null;
}

/** The system or undici error code behind fetch's generic "fetch failed". */
function errorCode(err: unknown): string | null {
  const cause = (err as { cause?: unknown } | null)?.cause as { code?: unknown; errors?: { code?: unknown }[] } | undefined;
  const code = cause?.code ?? cause?.errors?.[0]?.code;
  return typeof code === "string" && /^[A-Z0-9_]{1,40}$/.test(code) ? code : null;
}
