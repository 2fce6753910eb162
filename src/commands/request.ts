/** `guard request -- CMD`: create (or find) the signed request for this exact run without waiting. */
import { ExitCode, because, deniedError } from "../core/errors.js";
import type { CommonOptions } from "./options.js";
import { colours, printJson, printStdout, say } from "../adapters/output.js";
import { hashProgram } from "../adapters/program.js";
import { bindFileArguments } from "../adapters/file-args.js";
import { withContext } from "./command.js";
import { planRun } from "./plan.js";
import { identify } from "./identity.js";
import { refuseUnapprovable } from "./approval-flow.js";
import { assess, createSignedRequest, currentBinding, findUsableRequest, runPreviews, stdinBinding } from "./request-lib.js";
import { requestJson } from "./request-view.js";
import { renderPlan } from "./render.js";
import { usageError } from "../core/errors.js";
import type { Runtime } from "../runtime.js";

export async function requestCommand(command: string[], opts: CommonOptions & { env?: string; reason?: string }, rt: Runtime): Promise<void> {
  await withContext(rt, opts, async (ctx) => {
    const plan = await planRun(ctx, command, opts.env, await ctx.now());
    const d = plan.decision;
    if (d.decision === "deny") {
      for (const line of renderPlan(plan, colours())) say(line);
      throw because("policy-deny", deniedError(`refused: ${d.reasons[0] ?? "denied by policy"}; no request was created`));
    }
    if (d.decision === "allow") {
      say("guard: this run needs no approval; run it with `guard run -- …`");
      rt.exitCode = ExitCode.OK;
      if (opts.json) printJson({ id: null, status: "not-needed", decision: "allow" });
      return;
    }
    const identity = await identify(ctx, plan.policy);
    if (d.protected && !identity.principal) {
      throw because("not-principal", deniedError(`your key ${identity.signer.publicKey.fingerprint} is not listed in the policy; in a protected environment the requester must be a known principal`));
    }
    // A request nobody else could approve is refused before it exists, as `guard run` does.
    refuseUnapprovable(plan, identity);
    const hashed = await hashProgram(plan.program.path);
    const binding = currentBinding(ctx, plan, identity, hashed, await stdinBinding(ctx), await bindFileArguments(plan.typed, ctx.cwd, plan.typed.length - plan.argv.length + 1));
    let loaded = await findUsableRequest(ctx, plan.policy, binding);
    if (!loaded || !["pending", "approved"].includes(loaded.assessment.status)) {
      let reason = opts.reason?.trim() || null;
      if (!reason && d.requirements.some((r) => r.reason)) {
        if (!ctx.rt.interactive()) throw usageError("this run needs a reason", 'pass --reason "…"');
        reason = (await ctx.rt.ask("Reason for this run (shown to the approver):", { validate: (v) => (v.trim() ? true : "a reason is required"), cancelled: "cancelled: no request was created" })).trim();
      }
      const previews = await runPreviews(ctx, plan, "no request was made");
      loaded = await assess(ctx, plan.policy, await createSignedRequest(ctx, plan, identity, binding, reason, false, previews));
    }
    if (opts.json) printJson(requestJson(loaded));
    else printStdout(loaded.signed.request.id);
    say(`guard: request ${loaded.signed.request.id} is ${loaded.assessment.status}; a colleague approves it with: guard approve ${loaded.signed.request.id}`);
  }, { type: "request.refused", data: { argv: command } });
}
