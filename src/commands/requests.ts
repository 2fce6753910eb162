/** `guard requests` and `guard show`: the state of requests, judged against the current policy. */
import type { CommonOptions } from "./options.js";
import { asciiIdentifier, escapeForTerminal as esc, quoteArgv } from "../core/escape.js";
import { colours, printJson, printJsonLists, printStdout, say, stdoutStream } from "../adapters/output.js";
import { count, showProgress } from "../adapters/progress.js";
import { ExitCode, GuardError } from "../core/errors.js";
import { withContext } from "./command.js";
import { identify } from "./identity.js";
import { mayDecide } from "../core/approvals.js";
import { fitToWidth, localTime } from "../core/time.js";
import { assess, loadRequest, type LoadedRequest } from "./request-lib.js";
import { renderRequest, requestJson } from "./request-view.js";
import type { Runtime } from "../runtime.js";
import type { GuardRequest } from "../core/types.js";
import type { DamagedRecord } from "../adapters/store/types.js";

export interface RequestsOptions extends CommonOptions {
  all?: boolean;
  review?: boolean;
  mine?: boolean;
  awaitingMe?: boolean;
}

export async function requestsCommand(opts: RequestsOptions, rt: Runtime): Promise<void> {
  await withContext(rt, opts, async (ctx) => {
    const { policy } = await ctx.policy();
    const store = await ctx.store();
    const loaded: LoadedRequest[] = [];
    const damaged: DamagedRecord[] = [];
    // The default listing (open requests) reads no finished history, nor does --review (the break-glass
    // requests, through the store's index: a hint; each one is still verified and judged below); --all
    // reads it all.
    // Over a year of history (--all) reading every request and judging each takes a while: shown at a terminal.
    let done = 0;
    let total: number | null = null;
    const stopProgress = showProgress(() => (total === null ? "guard: reading requests…" : `guard: checking requests: ${count(done)} of ${count(total)}`));
    try {
      const listing = opts.review
        ? await store.listBreakGlassRequests()
        : opts.all
          ? await store.listRequests()
          : await store.listOpenRequests(await ctx.now());
      damaged.push(...listing.damaged);
      total = listing.requests.length;
      // One damaged record (a request, or an approval or consumption of it) affects only itself (H4).
      for (const signed of listing.requests) {
        try {
          loaded.push(await assess(ctx, policy, signed));
        } catch (e) {
          if (!(e instanceof GuardError) || e.exitCode !== ExitCode.INTEGRITY) throw e;
          damaged.push({ id: signed.request.id, where: `the records of request ${signed.request.id}`, problem: e.message });
        }
        // The store's reads of a request's records may all be synchronous: now and then, let the
        // progress line's timer run.
        if (++done % 256 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      stopProgress();
    }
    const identity = opts.mine || opts.awaitingMe ? await identify(ctx, policy) : null;
    const shown = loaded.filter((l) => {
      const r = l.signed.request;
      if (identity && opts.mine && r.requester.fingerprint !== identity.signer.publicKey.fingerprint) return false;
      if (identity && opts.awaitingMe) {
        // Pending, and an approval from me would count (eligible, not mine, not given yet).
        if (l.assessment.status !== "pending" || r.breakGlass || !identity.principal) return false;
        if (!mayDecide(l.assessment, r, policy, identity.principal, identity.signer.publicKey.fingerprint, "approve").ok) return false;
        return l.assessment.requirements.some((q) => !q.approvedBy.includes(identity.principal!.name) && q.eligible.includes(identity.principal!.name));
      }
      if (opts.review) return r.breakGlass && l.assessment.acknowledgedBy.length === 0;
      if (opts.all) return true;
      // Open requests, and those a policy change voided (so nobody keeps waiting on them unawares).
      return !r.breakGlass && ["pending", "approved", "void"].includes(l.assessment.status);
    });
    if (opts.json) {
      await printJsonLists({ requests: shown.map(requestJson), damaged: damaged.map((d) => ({ id: d.id, where: d.where, problem: d.problem })) });
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
    if (stdoutStream().isTTY) {
      for (const line of requestsTable(shown)) printStdout(line);
      return;
    }
    for (const l of shown) {
      const r = l.signed.request;
      printStdout(
        `${r.id}  ${l.assessment.status.padEnd(8)}  ${esc(text(r.environment.name)).padEnd(12)}  ${requesterCell(r).padEnd(10)}  ${localTime(r.createdAt)}  ${quoteArgv(r.argv)}${r.breakGlass ? c.red(" [break-glass]") : ""}`,
      );
    }
  });
}

/**
 * A field of a listed record as text. The listing shows records whose shape `guard show` refuses (as
 * invalid, H4), and only the store's checks (records.ts requestProblem) stand behind them: a store
 * writer can put any JSON value in a field those do not check (environment name, requester, reason).
 * Such a value is shown as its JSON, escaped like any text.
 */
const text = (v: unknown): string => (typeof v === "string" ? v : (JSON.stringify(v) ?? String(v)));

/** The requester: the principal's name restricted to ASCII, else the key fingerprint, escaped. */
function requesterCell(r: GuardRequest): string {
  return r.requester.principal ? asciiIdentifier(text(r.requester.principal)) : esc(text(r.requester.fingerprint));
}

/** At a terminal: a table with headers; every cell that came from a store is escaped. */
function requestsTable(shown: readonly LoadedRequest[]): string[] {
  const head = ["ID", "STATUS", "ENVIRONMENT", "REQUESTER", "APPROVALS", "EXPIRES", "REASON", "COMMAND"];
  const rows = shown.map((l) => {
    const r = l.signed.request;
    const got = l.assessment.requirements.reduce((n, q) => n + Math.min(q.approvedBy.length, q.needed), 0);
    const need = l.assessment.requirements.reduce((n, q) => n + q.needed, 0);
    return [
      r.id,
      l.assessment.status,
      esc(text(r.environment.name)),
      requesterCell(r),
      r.breakGlass ? "break-glass" : `${got}/${need}`,
      localTime(r.expiresAt),
      fitToWidth(esc(text(r.reason ?? "")), 30),
      quoteArgv(r.argv),
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => [...row[i]!].length)));
  const line = (cells: string[]): string => cells.map((cell, i) => (i === cells.length - 1 ? cell : cell + " ".repeat(widths[i]! - [...cell].length))).join("  ");
  return [line(head), ...rows.map(line)];
}

export async function showCommand(id: string, opts: CommonOptions, rt: Runtime): Promise<void> {
  await withContext(rt, opts, async (ctx) => {
    const { policy } = await ctx.policy();
    const loaded = await loadRequest(ctx, policy, id);
    if (opts.json) printJson(requestJson(loaded));
    else for (const line of renderRequest(loaded, policy, colours(stdoutStream()))) printStdout(line);
  });
}
