/**
 * `guard audit log` and `guard audit verify`. Verify checks the hash chain (first bad event by sequence),
 * an optional external anchor (tail truncation), the signatures of every request and approval the store
 * holds, and that the store and the log tell the same story: every request, approval and consumption
 * record has the event that recorded it, and every such event its record. Runs whose guard was
 * killed (a start with no finish) are reported as interrupted, not as corruption.
 */
import type { CommonOptions } from "./options.js";
import { ExitCode, GuardError, usageError } from "../core/errors.js";
import { AuditVerifier, consumedNeverStarted, crossCheckConsumptions, crossCheckRecords, type AuditReport, type StoreRecords } from "../core/audit.js";
import { checkSignatures, type SignatureAnswers, type SignatureBatch } from "../core/record-signatures.js";
import { parseDuration } from "../core/duration.js";
import { PRUNE_FLOOR_SECONDS } from "../core/prune.js";
import { auditFilterMatches, auditTypeFilter, type AuditFilter } from "../core/audit-types.js";
import { localTime } from "../core/time.js";
import { escapeForTerminal as esc, quoteArgv } from "../core/escape.js";
import { type AuditEvent, type Consumption, type SignedApproval, type SignedRequest } from "../core/types.js";
import { shapeProblem, validateConsumptionShape } from "../core/request.js";
import type { DamagedRecord, Store } from "../adapters/store/types.js";
import type { SignaturePool } from "../adapters/signature-parallel.js";
import type { Archive, ArchivedRecord } from "../adapters/store/archive.js";
import { colours, printJson, printJsonLine, printStdout, say, stdoutStream } from "../adapters/output.js";
import { count, showProgress } from "../adapters/progress.js";
import { withContext } from "./command.js";
import type { Runtime } from "../runtime.js";

export interface AuditLogOptions extends CommonOptions {
  since?: string;
  type?: string;
  request?: string;
  actor?: string;
}

export async function auditLogCommand(opts: AuditLogOptions, rt: Runtime): Promise<void> {
  let sinceMs: number | null = null;
  if (opts.since !== undefined) {
    const d = parseDuration(opts.since);
    sinceMs = d !== null ? rt.now() - d * 1000 : Date.parse(opts.since);
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
  await withContext(rt, opts, async (ctx) => {
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

export async function auditVerifyCommand(opts: CommonOptions & { anchor?: string; archive?: string[] }, rt: Runtime): Promise<void> {
  let anchor: { seq: number; hash: string } | undefined;
  if (opts.anchor !== undefined) {
    const m = /^(\d+):([0-9a-f]{64})$/.exec(opts.anchor);
    if (!m) throw usageError(`--anchor ${JSON.stringify(opts.anchor)} is not SEQ:HASH`, "use the `head` that an earlier `guard audit verify` printed, e.g. --anchor 1042:3f5c…");
    anchor = { seq: Number(m[1]), hash: m[2]! };
  }
  await withContext(rt, opts, async (ctx) => {
    const store = await ctx.store({ create: false });
    const archives: Archive[] = [];
    const unreadable: string[] = [];
    if (opts.archive?.length) {
      const { readArchive } = await import("../adapters/store/archive.js"); // (node:zlib only when needed)
      for (const path of opts.archive) {
        try {
          archives.push(await readArchive(path));
        } catch (e) {
          // An archive that does not hold what its manifest says is reported with the other problems.
          if (!(e instanceof GuardError) || e.exitCode !== ExitCode.INTEGRITY) throw e;
          unreadable.push(esc(e.message));
        }
      }
    }
    const progress = new VerifyProgress();
    const stopProgress = showVerifyProgress(progress);
    let v: StoreVerification;
    try {
      v = await verifyStore(store, { anchor, archives, progress });
    } finally {
      stopProgress();
    }
    if (unreadable.length > 0) {
      v.problems.unshift(...unreadable);
      v.ok = false;
    }
    const { report, ok, problems, leftovers, neverStarted } = v;

    if (opts.json) {
      printJson({
        ok,
        events: report.events,
        head: report.head,
        firstBad: report.firstBad ?? null,
        behindAnchor: report.behindAnchor ?? null,
        interrupted: report.interrupted,
        consumedNeverStarted: neverStarted,
        pruned: report.checkpoints.map((c) => ({ seq: c.seq, cutoff: c.cutoff, through: c.through, requests: c.retired.length, archive: c.archive })),
        leftovers,
        problems,
      });
    } else {
      const c = colours(stdoutStream());
      printStdout(`${report.events} events in ${store.description}${archives.length > 0 ? ` and ${archives.length} archive${archives.length === 1 ? "" : "s"}` : ""}`);
      if (report.start !== null) printStdout(`starts at event ${report.start.seq}: events before it were retired by guard store prune (pass their archives with --archive to check them too)`);
      if (report.head) printStdout(`head: ${report.head.seq}:${report.head.hash}   (record it elsewhere; check later with --anchor ${report.head.seq}:${report.head.hash})`);
      for (const r of report.interrupted) printStdout(c.yellow(`interrupted: run ${esc(r.runId)} (event ${r.seq}) started but never finished — guard was killed while it ran`));
      for (const n of neverStarted) printStdout(c.yellow(`interrupted: ${n}`));
      for (const n of leftovers) printStdout(c.yellow(`left over: ${n}`));
      for (const p of problems) printStdout(c.red(`✖ ${p}`));
      if (report.firstBad) printStdout(c.red.bold(`first bad event: ${report.firstBad.seq} — ${report.firstBad.problem}`));
      printStdout(ok ? c.green("✔ audit log verifies") : c.red.bold("✖ audit log does NOT verify"));
    }
    if (!ok) {
      say(colours().red("guard: integrity failure — the audit log or the store has been altered"));
      rt.exitCode = ExitCode.INTEGRITY;
    }
  });
}

export interface StoreVerification {
  ok: boolean;
  report: AuditReport;
  /** Every problem: the chain's, the records', the archives'. */
  problems: string[];
  /** Records a checkpoint names as retired that are still in the store (an interrupted prune, or re-planted; expired either way). */
  leftovers: string[];
  neverStarted: string[];
}

/**
 * What `audit verify` checks, for it and for `store prune` (which prunes only a store that verifies).
 * With archives (`store prune` wrote them), their events are fed first, in order, so the chain is
 * checked from its beginning into the live log, and their records are checked with the store's.
 */
export interface VerifyStoreOptions {
  anchor?: { seq: number; hash: string };
  archives?: Archive[];
  /**
   * From how many records (requests and approvals) on their signatures are checked in worker threads;
   * default PARALLEL_SIGNATURES_FROM. Tests set it low to see both ways give the same verdict.
   */
  parallelSignaturesFrom?: number;
  /** Filled in as the check goes, for a progress line (showVerifyProgress). */
  progress?: VerifyProgress;
}

/**
 * How far verifyStore has got: the events taken into the chain so far and the records (requests with
 * their approvals) read. verifyStore fills it in as it goes; a progress line reads it on a timer.
 */
export class VerifyProgress {
  verifier: AuditVerifier | null = null;
  records = 0;
  get events(): number {
    return this.verifier?.eventsSeen ?? 0;
  }
}

/** The progress line's text: counts only, nothing read from the store. */
export function verifyProgressText(p: { events: number; records: number }): string {
  return `guard: verifying: ${count(p.events)} event${p.events === 1 ? "" : "s"} chained, ${count(p.records)} record${p.records === 1 ? "" : "s"} read`;
}

/** The progress line of a verification at a terminal (adapters/progress.ts); the answer stops and erases it. */
export function showVerifyProgress(progress: VerifyProgress, delayMs?: number): () => void {
  return showProgress(() => verifyProgressText(progress), delayMs);
}

/** Below this many records, starting worker threads (some 30 ms) costs more than it saves. */
export const PARALLEL_SIGNATURES_FROM = 2_000;
/** Requests (with their approvals) a job of signature checks, in this thread or a worker's. */
const SIGNATURE_JOB = 256;

export async function verifyStore(store: Store, opts: VerifyStoreOptions = {}): Promise<StoreVerification> {
  const archives = [...(opts.archives ?? [])].sort((a, b) => a.manifest.events.firstSeq - b.manifest.events.firstSeq);
  const verifier = new AuditVerifier({ anchor: opts.anchor });
  const progress = opts.progress;
  if (progress) progress.verifier = verifier;
  const archiveProblems: string[] = [];
  // Each archive is read again here, a line at a time (readArchive kept only its manifest): its events
  // go to the verifier ahead of the live log's, and its records are checked as they go by, keeping only
  // what is reported of each (the records of a year are hundreds of megabytes).
  const archived = new Map<string, { rec: CheckedRecord; consumption: Consumption | null }>();
  // Their signatures as the stored records' below: in this thread, or in worker threads once there are many.
  const threshold = opts.parallelSignaturesFrom ?? PARALLEL_SIGNATURES_FROM;
  const archiveChecks = new SignatureChecks(threshold);
  try {
    if (archives.length > 0) {
      const { readArchiveContent } = await import("../adapters/store/archive.js");
      for (const a of archives) {
        let notJson = false;
        let batch: ArchivedRecord[] = [];
        const checkBatch = async (): Promise<void> => {
          const recs = batch.map((r) => newChecked(r.request, " (archived)", false, r.approvals));
          batch.forEach((r, i) => archived.set(r.request.request.id, { rec: recs[i]!, consumption: r.consumption }));
          const job = { requests: batch.map((r) => r.request), approvals: batch.flatMap((r) => r.approvals) };
          batch = [];
          await archiveChecks.check(job, { requests: recs, approvals: recs.flatMap((r) => r.approvals) });
        };
        const changed = await readArchiveContent(
          a,
          (line) => {
            const buf = Buffer.from(line, "utf8");
            if (verifier.pushLine(buf, 0, buf.length)) return;
            let e: AuditEvent;
            try {
              e = JSON.parse(line) as AuditEvent;
            } catch {
              notJson = true;
              return;
            }
            verifier.push(e);
          },
          (r) => {
            batch.push(r);
            if (progress) progress.records++;
            return batch.length === SIGNATURE_JOB ? checkBatch() : undefined;
          },
        );
        await checkBatch();
        if (notJson) archiveProblems.push(`the archive ${esc(a.path)} holds an event that is not JSON`);
        if (changed !== null) archiveProblems.push(esc(changed));
      }
      await archiveChecks.drain();
    }
  } finally {
    await archiveChecks.close();
  }
  if (store.feedAudit) await store.feedAudit(verifier);
  else for await (const e of store.readAudit()) verifier.push(e);
  const report = verifier.finish();
  // Each archive must be the one a checkpoint names: same last event, same SHA-256 and size.
  for (const a of archives) {
    const m = a.manifest.events;
    const c = report.checkpoints.find((k) => k.through.seq === m.lastSeq);
    if (!c) archiveProblems.push(`the archive ${esc(a.path)} (events ${m.firstSeq}–${m.lastSeq}) is named by no store.pruned checkpoint in the log`);
    else if (c.through.hash !== m.lastHash || c.archive.sha256 !== a.sha256 || c.archive.bytes !== a.bytes) {
      archiveProblems.push(`the archive ${esc(a.path)} is not the one the store.pruned checkpoint (event ${c.seq}) names: its SHA-256 or content differs (altered or swapped)`);
    }
  }

  // Records: every request and approval must still carry a valid signature by the key it names, and
  // every request, approval and consumption must have the event that recorded it (crossCheckRecords).
  const recordProblems: string[] = [];
  const leftovers: string[] = [];
  const retiredBy = new Map<string, number>();
  for (const c of report.checkpoints) for (const id of c.retired) retiredBy.set(id, Date.parse(c.cutoff));
  // A record a checkpoint retired, still in the store: left over by an interrupted prune, or re-planted.
  // Expired before the cutoff it cannot run, so it is reported, not a failure; anything else is judged as usual.
  // (A checkpoint is only as trustworthy as the chain: one forged with a cutoff in the future must not
  // excuse a planted request that can still run, so the expiry must also be older than any prune allows.)
  const expiredLongAgo = (await store.now()) - PRUNE_FLOOR_SECONDS * 1000;
  const isLeftover = (id: string, expiresAt: string): boolean => {
    const cutoff = retiredBy.get(id);
    const expires = Date.parse(expiresAt);
    return cutoff !== undefined && !report.createdRequests.has(id) && expires < cutoff && expires < expiredLongAgo;
  };
  const leftoverIds = new Set<string>();
  const consumptions: Consumption[] = [];
  // S19: what `guard requests --review` and the one-unreviewed-break-glass-run check read is the store's
  // break-glass index; a break-glass request it does not list is hidden from both.
  const breakGlassIndexed = new Set((await store.listBreakGlassRequests()).requests.map((r) => r.request.id));

  // The records, a batch at a time (never all of history at once); their signatures are checked in
  // worker threads once there are many (the same function, the same answers), while the next batch is
  // read. What each record showed is kept in a few facts, and reported at the end in the order of
  // age (newest first), whatever order the store read them in.
  const checked: CheckedRecord[] = [];
  const leftoverNotes: Array<{ createdAt: string; id: string; note: string }> = [];
  const damagedRecords: DamagedRecord[] = [];
  const checks = new SignatureChecks(threshold);
  try {
    let sigs: SignatureBatch = { requests: [], approvals: [] };
    let of: { requests: CheckedRecord[]; approvals: CheckedApproval[] } = { requests: [], approvals: [] };
    // A job of at most SIGNATURE_JOB requests: a store's batch may be larger (a PostgreSQL page), and
    // what is in flight stays small whatever it is.
    const flush = async (): Promise<void> => {
      const [job, into] = [sigs, of];
      sigs = { requests: [], approvals: [] };
      of = { requests: [], approvals: [] };
      await checks.check(job, into);
    };
    for await (const batch of store.readRecords()) {
      // A record that cannot be read is tampering (65), reported with the others; it does not stop the check.
      damagedRecords.push(...batch.damaged);
      if (progress) progress.records += batch.records.length;
      for (const { request: signed, approvals: stored } of batch.records) {
        const req = signed.request;
        if (isLeftover(req.id, req.expiresAt)) {
          leftoverIds.add(req.id);
          leftoverNotes.push({
            createdAt: req.createdAt,
            id: req.id,
            note: `request ${esc(req.id)} was retired by guard store prune but its record is still in the store (an interrupted prune, or put back); it expired at ${esc(req.expiresAt)} and cannot run — the next guard store prune removes it`,
          });
          continue;
        }
        const rec = newChecked(signed, "", Boolean(req.breakGlass) && !breakGlassIndexed.has(req.id), stored);
        checked.push(rec);
        sigs.requests.push(signed);
        of.requests.push(rec);
        if (Array.isArray(stored)) {
          sigs.approvals.push(...stored);
          of.approvals.push(...rec.approvals);
        }
        if (sigs.requests.length === SIGNATURE_JOB) await flush();
      }
      if (sigs.requests.length > 0) await flush();
    }
    await checks.drain();
  } finally {
    await checks.close();
  }
  // A consumption record that cannot be read is reported with the other damaged records; its request
  // still counts as consumed in the store (the record is there), so the log's consumption of it is not
  // also reported as missing.
  const listed = await store.listConsumptions();
  damagedRecords.push(...listed.damaged);
  for (const d of damagedRecords.sort((a, b) => cmp(a.where, b.where))) recordProblems.push(`damaged record ${esc(d.where)}: ${esc(d.problem)}`);
  for (const n of leftoverNotes.sort(byAge)) leftovers.push(n.note);
  const requests: StoreRecords["requests"][number][] = [];
  const approvals: StoreRecords["approvals"][number][] = [];
  const report1 = (rec: CheckedRecord): void => {
    requests.push({ id: rec.id, digest: rec.digest });
    recordProblems.push(...recordProblemsOf(rec));
    for (const a of rec.approvals) approvals.push({ requestId: rec.id, principal: a.principal, decision: a.decision, fingerprint: a.fingerprint });
  };
  for (const rec of checked.sort(byAge)) report1(rec);
  // Consumptions are not signed; each must still be a record guard writes (validateConsumptionShape).
  // (An archive's were checked when it was read: readArchive.)
  for (const c of listed.consumptions) {
    if (leftoverIds.has(c.requestId) || (retiredBy.has(c.requestId) && !report.createdRequests.has(c.requestId) && !report.consumedRequests.has(c.requestId))) continue;
    const malformed = shapeProblem(() => validateConsumptionShape(c));
    if (malformed !== null) recordProblems.push(`consumption of request ${esc(c.requestId)}: ${malformed} (no guard writes such a record: it was altered or planted)`);
    consumptions.push(c);
  }
  const live = new Set(requests.map((q) => q.id));
  for (const [id, { rec, consumption }] of archived) {
    if (live.has(id)) continue;
    report1(rec);
    if (consumption) consumptions.push(consumption);
  }
  const storeConsumed = new Set(consumptions.map((c) => c.requestId));
  for (const d of listed.damaged) if (d.id !== null) storeConsumed.add(d.id);
  recordProblems.push(...crossCheckRecords(report, { requests, approvals, consumptions }, esc));
  const consumption = crossCheckConsumptions(report.consumedRequests, storeConsumed, report.intendedRequests);
  const neverStarted = consumedNeverStarted(storeConsumed, report);
  const problems = [...report.problems, ...archiveProblems, ...recordProblems, ...consumption];
  return { ok: problems.length === 0, report, problems, leftovers, neverStarted };
}

/** What verify found of one stored request and its approvals, reported once all are read. */
interface CheckedRecord {
  id: string;
  createdAt: string;
  /** " (archived)" for a record from an archive. */
  where: string;
  /** Its digest, once its signature was checked. */
  digest: string;
  signatureOk: boolean;
  /** Why it is not a record guard writes (checkSignatures' requestsMalformed), or null. */
  malformed: string | null;
  breakGlassUnindexed: boolean;
  /** Why its approvals could not be read (65), or null. */
  approvalsDamaged: string | null;
  approvals: CheckedApproval[];
}

interface CheckedApproval {
  principal: string;
  decision: string;
  fingerprint: string;
  signatureOk: boolean;
  malformed: string | null;
}

function newChecked(signed: SignedRequest, where: string, breakGlassUnindexed: boolean, stored: SignedApproval[] | { damaged: string }): CheckedRecord {
  const req = signed.request;
  return {
    id: req.id,
    createdAt: req.createdAt,
    where,
    digest: "",
    signatureOk: false,
    malformed: null,
    breakGlassUnindexed,
    approvalsDamaged: Array.isArray(stored) ? null : stored.damaged,
    approvals: Array.isArray(stored) ? stored.map((a) => ({ principal: a.statement.principal, decision: a.statement.decision, fingerprint: a.statement.fingerprint, signatureOk: false, malformed: null })) : [],
  };
}

/**
 * Signature checks of records, a job at a time: in this thread, or, once `threshold` records (requests
 * and approvals) have been asked for, in worker threads (signature-parallel.ts: the same function, the
 * same answers), with about two jobs a worker in flight while the caller reads on. The answers are on
 * the records only after `drain`.
 */
class SignatureChecks {
  private pool: SignaturePool | null = null;
  private poolTried = false;
  private seen = 0;
  private readonly inFlight: Array<Promise<void>> = [];

  constructor(private readonly threshold: number) {}

  async check(job: SignatureBatch, into: { requests: CheckedRecord[]; approvals: CheckedApproval[] }): Promise<void> {
    if (job.requests.length === 0 && job.approvals.length === 0) return;
    this.seen += job.requests.length + job.approvals.length;
    if (!this.poolTried && this.seen >= this.threshold) {
      this.poolTried = true;
      const { startSignaturePool } = await import("../adapters/signature-parallel.js");
      this.pool = await startSignaturePool();
    }
    if (this.pool === null) {
      applySignatures(checkSignatures(job), into);
      return;
    }
    const done = this.pool.check(job).then((answers) => applySignatures(answers, into));
    done.catch(() => undefined); // awaited in turn below, or by drain
    this.inFlight.push(done);
    while (this.inFlight.length > 2 * this.pool.size) await this.inFlight.shift();
  }

  /** Every job asked for is answered (or its failure thrown). */
  async drain(): Promise<void> {
    for (const done of this.inFlight.splice(0)) await done;
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = null;
    await pool?.close();
  }
}

/** checkSignatures' answers onto the records they were asked for, in the same order. */
function applySignatures(answers: SignatureAnswers, of: { requests: CheckedRecord[]; approvals: CheckedApproval[] }): void {
  of.requests.forEach((rec, i) => {
    rec.digest = answers.digests[i]!;
    rec.signatureOk = answers.requestsOk[i] === 1;
    rec.malformed = answers.requestsMalformed[i]!;
  });
  of.approvals.forEach((a, i) => {
    a.signatureOk = answers.approvalsOk[i] === 1;
    a.malformed = answers.approvalsMalformed[i]!;
  });
}

/** The problems of one record, in the order verify has always given them. */
function recordProblemsOf(rec: CheckedRecord): string[] {
  const out: string[] = [];
  // A malformed record's signature is not checked: signed or not, no guard wrote it.
  if (rec.malformed !== null) out.push(`request ${esc(rec.id)}${rec.where}: ${rec.malformed} (no guard writes such a record: it was altered or planted)`);
  else if (!rec.signatureOk) out.push(`request ${esc(rec.id)}${rec.where}: its signature does not verify (the record was altered)`);
  if (rec.breakGlassUnindexed) {
    out.push(
      `request ${esc(rec.id)} is a break-glass run missing from the store's break-glass index, so \`guard requests --review\` does not show it (an index entry removed, or stored by a guard older than the index)`,
    );
  }
  if (rec.approvalsDamaged !== null) out.push(`request ${esc(rec.id)}: damaged record: ${esc(rec.approvalsDamaged)}`);
  for (const a of rec.approvals) {
    if (a.malformed !== null) out.push(`request ${esc(rec.id)}${rec.where}: ${a.malformed} (no guard writes such a record: it was altered or planted)`);
    else if (!a.signatureOk) out.push(`request ${esc(rec.id)}${rec.where}: approval by ${esc(a.principal)} does not verify (the record was altered)`);
  }
  return out;
}

/** Newest first, then by id: the order listRequests gives. */
const byAge = (a: { createdAt: string; id: string }, b: { createdAt: string; id: string }): number => cmp(b.createdAt, a.createdAt) || cmp(a.id, b.id);
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
