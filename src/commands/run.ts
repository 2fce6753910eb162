/**
 * `guard run`: plan, then one of — refuse (77), run an allowed command, or the approval flow (find or
 * create a signed request, wait or exit 75, confirm, consume once, run). Every branch is audited; anything
 * about to run or consume is audited first (write-ahead), so a run the log does not know about never starts.
 */
import { ExitCode, GuardError, because, deniedError, usageError, type Status } from "../core/errors.js";
import { parseDuration } from "../core/duration.js";
import { isRequestIdOrPrefix } from "../core/ids.js";
import type { RunOptions } from "./options.js";
import { colours, printJsonLine, reportError, say, setJsonErrors, stderrStream } from "../adapters/output.js";
import type { Context, RefusalScope } from "./context.js";
import { withContext } from "./command.js";
import { planRun, refusalData, type Plan } from "./plan.js";
import { renderBanner, renderPlan } from "./render.js";
import { auditBestEffort } from "./audit-events.js";
import { anonymousActor } from "./identity.js";
import { executeAllowed, type RunResult } from "./execute.js";
import type { GitHubReporter, RunTrace } from "../adapters/ci.js";
import type { Runtime } from "../runtime.js";

/** The options checked before anything else; a usage error here still ends with the status line. */
function checkOptions(opts: RunOptions): number | undefined {
  const waitSeconds = opts.wait === undefined ? undefined : parseDuration(opts.wait);
  if (waitSeconds === null) throw usageError(`--wait ${JSON.stringify(opts.wait)} is not a duration`, "use e.g. --wait 90s, --wait 15m, --wait 1h");
  if (opts.request !== undefined && !isRequestIdOrPrefix(opts.request))
    throw usageError(`--request ${JSON.stringify(opts.request)} is not a request id`, "request ids look like r-abcdefghijklmnopqrst, or a unique start of one (see `guard requests`)");
  if (opts.breakGlass && !opts.reason?.trim()) throw usageError("--break-glass needs --reason: say why this emergency cannot wait for an approval");
  return waitSeconds;
}

export async function runCommand(command: string[], opts: RunOptions, rt: Runtime): Promise<void> {
  let exitCode: number = ExitCode.INTERNAL;
  let status: Status = "internal";
  // GitHub Actions changes only the output format (annotations, step summary), never the decision (I3);
  // outside Actions the reporter is not even loaded.
  const gh = await gitHubReporterIfActions(rt.env);
  const trace: RunTrace = { beforeExec: () => gh?.resume(), reported: gh !== null };
  gh?.pause();
  try {
    setJsonErrors(Boolean(opts.json));
    const waitSeconds = checkOptions(opts);
    const refusal: RefusalScope = { type: "run.refused", requestId: opts.request, data: command.length ? { argv: command } : {} };
    await withContext(rt, opts, async (ctx) => {
      const result = await runWithContext(ctx, command, opts, waitSeconds, trace);
      exitCode = result.exitCode;
      status = result.status;
    }, refusal);
  } catch (err) {
    if (err instanceof GuardError) {
      exitCode = err.exitCode;
      status = err.code;
      // The message first, then the status line last, where scripts look for it.
      reportError(err);
      err.reported = true;
    }
    statusLine(status, exitCode, opts);
    if (gh) await gh.finish((await import("../adapters/ci.js")).runReport(trace, command, status, exitCode, err));
    throw err;
  }
  statusLine(status, exitCode, opts);
  if (gh) await gh.finish((await import("../adapters/ci.js")).runReport(trace, command, status, exitCode, null));
  rt.exitCode = exitCode;
}

async function gitHubReporterIfActions(env: NodeJS.ProcessEnv): Promise<GitHubReporter | null> {
  if (env.GITHUB_ACTIONS !== "true") return null;
  return (await import("../adapters/ci.js")).gitHubReporter(env);
}

async function runWithContext(ctx: Context, command: string[], opts: RunOptions, waitSeconds: number | undefined, trace: RunTrace): Promise<RunResult> {
  // The approval flow (requests, signatures, prompts, consuming) is loaded only when a run needs it: an
  // allowed run neither compiles nor initialises it (docs/benchmarks.md).
  if (opts.request !== undefined) {
    return (await import("./approval-flow.js")).runApprovedRequest(ctx, opts.request, command, opts, waitSeconds, trace);
  }
  let plan: Plan;
  try {
    plan = await planRun(ctx, command, opts.env, await ctx.now());
  } catch (err) {
    if (err instanceof GuardError && err.exitCode === ExitCode.CONFIG) {
      await auditBestEffort(ctx, anonymousActor(ctx), "policy.error", { message: err.message, argv: command });
    }
    // Refused while resolving the program (a symbolic link on its path that others can change).
    if (err instanceof GuardError && err.exitCode === ExitCode.DENIED) {
      await auditBestEffort(ctx, anonymousActor(ctx), "run.refused", { argv: command, reasons: [err.message], exitCode: ExitCode.DENIED });
    }
    throw err;
  }
  const d = plan.decision;
  trace.plan = plan;

  if (opts.breakGlass) {
    return (await import("./approval-flow.js")).runBreakGlass(ctx, plan, opts, trace);
  }

  if (d.decision === "deny") {
    await auditBestEffort(ctx, anonymousActor(ctx), "run.refused", refusalData(plan, ExitCode.DENIED));
    for (const line of renderPlan(plan, colours())) say(line);
    const hint = d.breakGlassAvailable && d.freezes.length
      ? "in a real emergency a member of the break-glass groups can use --break-glass --reason \"…\" (audited, reviewed)"
      : "check the target with `guard check -- …`; nothing ran";
    throw because("policy-deny", deniedError(`refused: ${d.reasons[0] ?? "denied by policy"}`, hint));
  }

  if (d.protected) for (const line of renderBanner(plan, colours())) say(line);

  if (d.decision === "approval") {
    return (await import("./approval-flow.js")).runWithApproval(ctx, plan, opts, waitSeconds, trace);
  }

  trace.beforeExec();
  return executeAllowed(ctx, plan, anonymousActor(ctx));
}

/**
 * A final status line, because the wrapped command may itself exit 75 or 77: shown whenever guard did
 * not simply run a command that succeeded, and always with --json (as JSON, on stderr).
 */
export function statusLine(status: Status, exitCode: number, opts: Pick<RunOptions, "json">): void {
  if (opts.json) {
    printJsonLine({ guard: { status, exitCode } }, stderrStream());
    return;
  }
  if (status === "ran" && exitCode === 0) return;
  say(colours().dim(`guard: status=${status} exit=${exitCode}`));
}

