/**
 * `guard audit log` and `guard audit verify`. Verify checks the hash chain (first bad event by sequence),
 * an optional external anchor (tail truncation), the signatures of every request and approval the store
 * holds, and that the store and the log tell the same story: every request, approval and consumption
 * record has the event that recorded it, and every such event its record. Runs whose guard was
 * killed (a start with no finish) are reported as interrupted, not as corruption.
 */
import type { CommonOptions } from "./options.js";
import { ExitCode, GuardError, usageError } from "../core/errors.js";
import { AuditVerifier, consumedNeverStarted, crossCheckConsumptions, crossCheckRecords, type StoreRecords } from "../core/audit.js";
import { approvalMessage, requestDigest, requestMessage } from "../core/request.js";
import { parseAuthorizedKey } from "../core/sshkey.js";
import { parseSshSig, verifySshSig } from "../core/sshsig.js";
import { parseDuration } from "../core/duration.js";
import { auditFilterMatches, auditTypeFilter, type AuditFilter } from "../core/audit-types.js";
import { localTime } from "../core/time.js";
import { escapeForTerminal as esc, quoteArgv } from "../core/escape.js";
import { SIG_NAMESPACE, type AuditEvent, type SignedApproval } from "../core/types.js";
import { colours, printJson, printJsonLine, printStdout, say, stdoutStream } from "../adapters/output.js";
import { withContext } from "./command.js";

export interface AuditLogOptions extends CommonOptions {
  since?: string;
  type?: string;
  request?: string;
  actor?: string;
}

export async function auditLogCommand(opts: AuditLogOptions): Promise<void> {
  let sinceMs: number | null = null;
  if (opts.since !== undefined) {
    const d = parseDuration(opts.since);
    sinceMs = d !== null ? Date.now() - d * 1000 : Date.parse(opts.since);
    if (Number.isNaN(sinceMs)) throw usageError(`--since ${JSON.stringify(opts.since)} is neither an ISO time nor a duration`, "e.g. --since 24h or --since 2026-11-27T00:00:00Z");
  }
  const filter: AuditFilter = {};
  if (sinceMs !== null) filter.sinceMs = sinceMs;
  if (opts.type !== undefined) {
    const f = auditTypeFilter(opts.type);
    if (!f.ok) throw usageError(`--type ${JSON.stringify(opts.type)} is not an audit event type`, `use a type or a family (e.g. --type approval for approval.*): ${f.known}`);
    filter.type = { prefix: f.prefix, family: f.family };
  }
  if (opts.request) filter.requestId = opts.request;
  if (opts.actor) filter.actor = opts.actor;
  await withContext(opts, async (ctx) => {
    const store = await ctx.store({ create: false });
    const c = colours(stdoutStream());
    let n = 0;
    // The store narrows through its indexes where it can; the exact filter below decides.
    const events = Object.keys(filter).length > 0 && store.readAuditFiltered ? store.readAuditFiltered(filter) : store.readAudit();
    for await (const e of events) {
      if (!auditFilterMatches(e, filter)) continue;
      n++;
      if (opts.json) printJsonLine(e);
      else printStdout(renderEvent(e, c));
    }
    if (!opts.json && n === 0) printStdout(c.dim("no matching events"));
  });
}

/**
 * One event as a line. Every field came from the store, which anyone who can request can write: each is
 * escaped, whatever its type is supposed to be (a forged event can put anything anywhere).
 */
function renderEvent(e: AuditEvent, c: ReturnType<typeof colours>): string {
  // No key was needed (an allowed run, a refusal before anyone signed): no person is known, only the
  // login account — shown as such at the end, never in the column of principals (`(root)` read as one).
  const keyed = e.actor.principal ?? e.actor.fingerprint;
  const who = keyed ?? "-";
  const d = e.data;
  const text = (v: unknown): string => esc(typeof v === "string" ? v : JSON.stringify(v) ?? String(v));
  const parts: string[] = [];
  if (typeof d.requestId === "string") parts.push(text(d.requestId));
  if (typeof d.environment === "string") parts.push(`env=${text(d.environment)}`);
  if (Array.isArray(d.argv)) parts.push(quoteArgv(d.argv.map(String)));
  if (typeof d.decision === "string") parts.push(text(d.decision));
  if (typeof d.exitCode === "number") parts.push(`exit=${d.exitCode}`);
  if (typeof d.signal === "string") parts.push(`signal=${text(d.signal)}`);
  if (Array.isArray(d.reasons) && d.reasons.length) parts.push(`— ${text(String(d.reasons[0]))}`);
  if (keyed === undefined || keyed === null) parts.push(c.dim(`(no key; login ${text(e.actor.user ?? "unknown")})`));
  const type = text(e.type);
  const shownType = type.includes("refused") || type.includes("breakglass") ? c.red(type.padEnd(18)) : type.padEnd(18);
  return `${text(e.seq).padStart(6)}  ${text(typeof e.time === "string" && Number.isFinite(Date.parse(e.time)) ? localTime(e.time) : e.time)}  ${shownType}  ${text(who).padEnd(10)}  ${parts.join(" ")}`;
}

export async function auditVerifyCommand(opts: CommonOptions & { anchor?: string }): Promise<void> {
  let anchor: { seq: number; hash: string } | undefined;
  if (opts.anchor !== undefined) {
    const m = /^(\d+):([0-9a-f]{64})$/.exec(opts.anchor);
    if (!m) throw usageError(`--anchor ${JSON.stringify(opts.anchor)} is not SEQ:HASH`, "use the `head` that an earlier `guard audit verify` printed, e.g. --anchor 1042:3f5c…");
    anchor = { seq: Number(m[1]), hash: m[2]! };
  }
  await withContext(opts, async (ctx) => {
    const store = await ctx.store({ create: false });
    const verifier = new AuditVerifier({ anchor });
    if (store.feedAudit) await store.feedAudit(verifier);
    else for await (const e of store.readAudit()) verifier.push(e);
    const report = verifier.finish();

    // Records: every request and approval must still carry a valid signature by the key it names, and
    // every request, approval and consumption must have the event that recorded it (crossCheckRecords).
    const recordProblems: string[] = [];
    const consumptions = await store.listConsumptions();
    const storeConsumed = new Set(consumptions.map((c) => c.requestId));
    const requests: StoreRecords["requests"][number][] = [];
    const approvals: StoreRecords["approvals"][number][] = [];
    const listed = await store.listRequests();
    // A record that cannot be read is tampering (65), reported with the others; it does not stop the check.
    for (const d of listed.damaged) recordProblems.push(`damaged record ${esc(d.where)}: ${esc(d.problem)}`);
    for (const signed of listed.requests) {
      const req = signed.request;
      requests.push({ id: req.id, digest: requestDigest(req) });
      const key = parseAuthorizedKey(req.requester.key);
      const ok = key.ok && key.key.fingerprint === req.requester.fingerprint && verifySshSig(signed.signature, requestMessage(req), SIG_NAMESPACE.request, [key.key]).ok;
      if (!ok) recordProblems.push(`request ${req.id}: its signature does not verify (the record was altered)`);
      let stored: SignedApproval[];
      try {
        stored = await store.listApprovals(req.id);
      } catch (e) {
        if (!(e instanceof GuardError) || e.exitCode !== ExitCode.INTEGRITY) throw e;
        recordProblems.push(`request ${req.id}: damaged record: ${esc(e.message)}`);
        continue;
      }
      for (const a of stored) {
        const parsed = parseSshSig(a.signature);
        const embedded = parsed.ok ? ({ ok: true, key: parsed.sig.publicKey } as const) : null;
        const good =
          embedded?.ok === true &&
          embedded.key.fingerprint === a.statement.fingerprint &&
          verifySshSig(a.signature, approvalMessage(a.statement), SIG_NAMESPACE.approval, [embedded.key]).ok;
        if (!good) recordProblems.push(`request ${req.id}: approval by ${esc(a.statement.principal)} does not verify (the record was altered)`);
        approvals.push({ requestId: req.id, principal: a.statement.principal, decision: a.statement.decision, fingerprint: a.statement.fingerprint });
      }
    }
    recordProblems.push(...crossCheckRecords(report, { requests, approvals, consumptions }, esc));
    const consumption = crossCheckConsumptions(report.consumedRequests, storeConsumed, report.intendedRequests);
    const neverStarted = consumedNeverStarted(storeConsumed, report);
    const ok = report.ok && recordProblems.length === 0 && consumption.length === 0;

    if (opts.json) {
      printJson({
        ok,
        events: report.events,
        head: report.head,
        firstBad: report.firstBad ?? null,
        behindAnchor: report.behindAnchor ?? null,
        interrupted: report.interrupted,
        consumedNeverStarted: neverStarted,
        problems: [...report.problems, ...recordProblems, ...consumption],
      });
    } else {
      const c = colours(stdoutStream());
      printStdout(`${report.events} events in ${store.description}`);
      if (report.head) printStdout(`head: ${report.head.seq}:${report.head.hash}   (record it elsewhere; check later with --anchor ${report.head.seq}:${report.head.hash})`);
      for (const r of report.interrupted) printStdout(c.yellow(`interrupted: run ${esc(r.runId)} (event ${r.seq}) started but never finished — guard was killed while it ran`));
      for (const n of neverStarted) printStdout(c.yellow(`interrupted: ${n}`));
      for (const p of [...report.problems, ...recordProblems, ...consumption]) printStdout(c.red(`✖ ${p}`));
      if (report.firstBad) printStdout(c.red.bold(`first bad event: ${report.firstBad.seq} — ${report.firstBad.problem}`));
      printStdout(ok ? c.green("✔ audit log verifies") : c.red.bold("✖ audit log does NOT verify"));
    }
    if (!ok) {
      say(colours().red("guard: integrity failure — the audit log or the store has been altered"));
      process.exitCode = ExitCode.INTEGRITY;
    }
  });
  void GuardError;
}
