import { ExitCode } from "../core/errors.js";
import type { CommonOptions } from "./options.js";
import { colours, printJson, printStdout, stdoutStream } from "../adapters/output.js";
import { withContext } from "./command.js";
import { planRun } from "./plan.js";
import { renderPlan } from "./render.js";
import { planJson } from "./json.js";
import type { Runtime } from "../runtime.js";

export interface CheckOptions extends CommonOptions {
  env?: string;
}

/** `guard check`: the decision and why; never runs anything. Exit 0 allow, 75 approval, 77 deny. */
export async function checkCommand(command: string[], opts: CheckOptions, rt: Runtime): Promise<void> {
  await withContext(rt, opts, async (ctx) => {
    const plan = await planRun(ctx, command, opts.env, await ctx.now());
    if (opts.json) printJson(planJson(plan));
    else for (const line of renderPlan(plan, colours(stdoutStream()))) printStdout(line);
    const d = plan.decision.decision;
    rt.exitCode = d === "allow" ? ExitCode.OK : d === "approval" ? ExitCode.APPROVAL_NEEDED : ExitCode.DENIED;
    // Under GitHub Actions: an annotation and a step summary (format only; never a different decision).
    if (rt.env.GITHUB_ACTIONS === "true") await (await import("../adapters/ci.js")).reportCheck(plan, rt.exitCode, rt.env);
  });
}
