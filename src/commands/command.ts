/** Every command's frame: a context for its body, the store always closed, and its refusal recorded. */
import { GuardError } from "../core/errors.js";
import type { CommonOptions } from "./options.js";
import { Context, type RefusalScope } from "./context.js";
import { isRefusal, recordRefusal } from "./audit-events.js";
import type { Runtime } from "../runtime.js";

/**
 * Run a command body with a context, always closing the store. With a refusal scope (the commands that
 * decide about a run or a request), a refusal it ends in — exit 64, 65 or 77 — is recorded as one audit
 * event, best effort: the refusal stands whether or not it could be recorded.
 */
export async function withContext<T>(rt: Runtime, opts: CommonOptions, body: (ctx: Context) => Promise<T>, refusal?: RefusalScope): Promise<T> {
  const ctx = await Context.create(rt, opts);
  ctx.refusal.scope = refusal;
  try {
    const result = await body(ctx);
    await recordRefusal(ctx, null);
    return result;
  } catch (err) {
    if (err instanceof GuardError && isRefusal(err)) await recordRefusal(ctx, err);
    throw err;
  } finally {
    await ctx.close();
  }
}
