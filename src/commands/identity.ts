import type { AuditActor, Policy, Principal } from "../core/types.js";
import type { Signer } from "../adapters/signer.js";
import { principalForKey, type Context } from "./context.js";

export interface Identity {
  signer: Signer;
  principal: Principal | null;
  actor: AuditActor;
}

/** Who is running guard, by the key they sign with (never by $USER or CI variables). */
export async function identify(ctx: Context, policy: Policy): Promise<Identity> {
  const signer = await ctx.signer();
  const principal = principalForKey(policy, signer.publicKey);
  const actor: AuditActor = { principal: principal?.name ?? null, fingerprint: signer.publicKey.fingerprint, user: ctx.user };
  ctx.refusal.actor = actor; // a refusal from here on is recorded as theirs
  return { signer, principal, actor };
}

/** The actor for events that need no signature (allowed runs of unprotected targets). */
export function anonymousActor(ctx: Context): AuditActor {
  return { principal: null, fingerprint: null, user: ctx.user };
}
