/** `guard requests` and `guard show`: the state of requests, judged against the current policy. */
import type { CommonOptions } from "../cli.js";
import { asciiIdentifier, escapeForTerminal as esc, quoteArgv } from "../core/escape.js";
import { colours, printJson, printStdout, say, stdoutStream } from "../adapters/output.js";
import { ExitCode, GuardError } from "../core/errors.js";
import { withContext } from "./context.js";
import { assess, loadRequest, type LoadedRequest } from "./request-lib.js";
import { renderRequest, requestJson } from "./request-view.js";

export async function requestsCommand(opts: CommonOptions & { all?: boolean; review?: boolean }): Promise<void> {
  await withContext(opts, async (ctx) => {
    const { policy } = await ctx.policy();
    const store = await ctx.store();
    const loaded: LoadedRequest[] = [];
    const { requests, damaged } = await store.listRequests();
    // One damaged record (a request, or an approval or consumption of it) affects only itself (H4).
    for (const signed of requests) {
      try {
        loaded.push(await assess(ctx, policy, signed));
      } catch (e) {
        if (!(e instanceof GuardError) || e.exitCode !== ExitCode.INTEGRITY) throw e;
        damaged.push({ id: signed.request.id, where: `the records of request ${signed.request.id}`, problem: e.message });
      }
    }
    const shown = loaded.filter((l) => {
      if (opts.review) return l.signed.request.breakGlass && l.assessment.acknowledgedBy.length === 0;
      if (opts.all) return true;
      // Open requests, and those a policy change voided (so nobody keeps waiting on them unawares).
      return !l.signed.request.breakGlass && ["pending", "approved", "void"].includes(l.assessment.status);
    });
    if (opts.json) {
      printJson({ requests: shown.map(requestJson), damaged: damaged.map((d) => ({ id: d.id, where: d.where, problem: d.problem })) });
      return;
    }
    for (const d of damaged) {
      say(`${colours().yellow("guard: warning:")} damaged record skipped: ${esc(d.where)}: ${esc(d.problem)}`);
    }
    if (damaged.length > 0) say(`  → the store was damaged or tampered with: run \`guard audit verify\` and investigate`);
    const c = colours(stdoutStream());
    if (shown.length === 0) {
      printStdout(c.dim(opts.review ? "no break-glass runs await review" : opts.all ? "no requests" : "no pending requests (--all shows every request)"));
      return;
    }
    for (const l of shown) {
      const r = l.signed.request;
      printStdout(
        `${r.id}  ${l.assessment.status.padEnd(8)}  ${esc(r.environment.name).padEnd(12)}  ${(r.requester.principal ? asciiIdentifier(r.requester.principal) : r.requester.fingerprint).padEnd(10)}  ${r.createdAt}  ${quoteArgv(r.argv)}${r.breakGlass ? c.red(" [break-glass]") : ""}`,
      );
    }
  });
}

export async function showCommand(id: string, opts: CommonOptions): Promise<void> {
  await withContext(opts, async (ctx) => {
    const { policy } = await ctx.policy();
    const loaded = await loadRequest(ctx, policy, id);
    if (opts.json) printJson(requestJson(loaded));
    else for (const line of renderRequest(loaded, policy, colours(stdoutStream()))) printStdout(line);
  });
}
