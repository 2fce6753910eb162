/**
 * The archives `guard store prune` writes, and `guard audit verify --archive` reads.
 *
 * An archive is one gzip file (node:zlib) of text lines:
 *
 *   line 1             the manifest (core/prune.ts ArchiveManifest): counts, first and last seq, the
 *                      hash the first event links to and the last event's hash, the SHA-256 of each part
 *   next events.count  the retired audit events, each exactly as the store held it (so every hash re-verifies)
 *   the rest           one line per retired request: {request, approvals, consumption} (signed records)
 *
 * The checkpoint event (`store.pruned`) records the SHA-256 and size of the compressed file, so an
 * archive cannot be swapped without breaking the chain that names it.
 */
import { constants, createReadStream, promises as fsp } from "node:fs";
import { createGunzip, gzipSync } from "node:zlib";
import { createHash, type Hash } from "node:crypto";
import { basename, join } from "node:path";
import { ARCHIVE_FORMAT, archivedRecordProblem, recordLine, type ArchiveManifest, type PruneScan } from "../../core/prune.js";
import { sha256Hex } from "../../core/canonical.js";
import { ExitCode, GuardError, integrityError } from "../../core/errors.js";
import type { AuditEvent, Consumption, GuardRequest, SignedApproval, SignedRequest } from "../../core/types.js";
import type { PruneOptions, PruneOutcome, RecordBatch } from "./types.js";
import { linkNewFile } from "./new-file.js";

export interface ArchivedRecord {
  request: SignedRequest;
  approvals: SignedApproval[];
  consumption: Consumption | null;
}

/**
 * An archive that held what its manifest says when readArchive read it. Its content is not kept: it is
 * read again, a line at a time, by readArchiveContent (a year's archive is hundreds of megabytes of text).
 */
export interface Archive {
  path: string;
  name: string;
  sha256: string;
  bytes: number;
  manifest: ArchiveManifest;
}

/** No line guard archives comes near this (an event's data is bounded at 8 KiB, a record at 1 MiB). */
const MAX_ARCHIVE_LINE = 64 << 20;

/**
 * Events first–last, and the cutoff (UTC, to the millisecond): a prune that crashed after writing its archive
 * and before its commit point leaves that file unreferenced, and the next prune (another cutoff) writes
 * its own beside it rather than failing on the name.
 */
export function archiveName(m: ArchiveManifest): string {
  const at = m.cutoff.replace(/[-:.]/g, "");
  return `guard-archive-${m.events.firstSeq}-${m.events.lastSeq}-${at}.jsonl.gz`;
}

/** Text gzipped at a time: one member of the archive's gzip stream. */
const MEMBER_BYTES = 4 << 20;

/**
 * Lines of an archive gzipped a few megabytes at a time, each piece a member of one gzip stream (RFC
 * 1952 allows several; gunzip, zcat and node:zlib read them as one file), each part's SHA-256 taken as
 * its lines go by (as partDigest): a prune of a long history never holds its text joined, nor its
 * retired records all at once.
 */
class ArchiveBody {
  private readonly members: Buffer[] = [];
  private piece: string[] = [];
  private size = 0;

  put(line: string, digest: Hash): void {
    digest.update(line).update("\n");
    this.piece.push(line, "\n");
    this.size += line.length + 1;
    if (this.size >= MEMBER_BYTES) this.flush();
  }

  /** The archive: the manifest's line as a member of its own, then the body. */
  finish(manifest: ArchiveManifest): Buffer {
    this.flush();
    return Buffer.concat([gzipSync(Buffer.from(`${JSON.stringify(manifest)}\n`, "utf8"), { level: 9 }), ...this.members]);
  }

  private flush(): void {
    if (this.size === 0) return;
    this.members.push(gzipSync(Buffer.from(this.piece.join(""), "utf8"), { level: 9 }));
    this.piece = [];
    this.size = 0;
  }
}

/** The archive of these lines (its manifest's digests must be theirs: partDigest). */
export function encodeArchive(manifest: ArchiveManifest, eventLines: readonly string[], recordLines: readonly string[]): Buffer {
  const body = new ArchiveBody();
  const unused = createHash("sha256");
  for (const l of eventLines) body.put(l, unused);
  for (const l of recordLines) body.put(l, unused);
  return body.finish(manifest);
}

/**
 * Write the archive durably under its name in `dir` (created 0700 when missing): a temporary file,
 * fsynced, linked to the final name (an existing archive of that name is never replaced), the
 * directory fsynced.
 */
export async function writeArchive(dir: string, name: string, bytes: Buffer, mode: number): Promise<string> {
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 }).catch((e: unknown) => {
    throw ioFailure("create the archive directory", dir, e);
  });
  const final = join(dir, name);
  let created: boolean;
  try {
    created = linkNewFile(dir, name, bytes, mode);
  } catch (e) {
    throw ioFailure("write the archive", final, e);
  }
  if (!created) throw new GuardError(ExitCode.IO, `the archive ${final} already exists; refusing to replace it`, "move it away (it belongs to an earlier prune), then run guard store prune again");
  const d = await fsp.open(dir, constants.O_RDONLY | constants.O_DIRECTORY).catch(() => null);
  if (d) await d.sync().catch(() => undefined).finally(() => d.close());
  return final;
}

/** What one read of an archive found: enough to check it against its manifest, and to compare two reads. */
interface ArchiveScan {
  sha256: string;
  bytes: number;
  /** The first problem, in the order they are reported (readArchive), or null. */
  problem: string | null;
  manifest: ArchiveManifest | null;
  eventsSha256: string;
  recordsSha256: string;
}

/**
 * One read of the archive at `path`, a line at a time: the compressed file streamed through gunzip, its
 * SHA-256 and size taken as it goes, each line split at its newline byte (UTF-8 never has one inside a
 * character). `onEvent` gets each event line and `onRecord` each record line, parsed and held to the
 * shape prune writes; the first problem is kept, in the order readArchive has always reported them
 * (the gzip stream, the last line, the manifest, the counts and digests, then the first odd record).
 */
async function scanArchive(path: string, onEvent: ((line: string) => void) | null, onRecord: ((r: ArchivedRecord) => void | Promise<void>) | null): Promise<ArchiveScan> {
  const file = createHash("sha256");
  let bytes = 0;
  const events = createHash("sha256");
  const records = createHash("sha256");
  let manifest: ArchiveManifest | null = null;
  let manifestProblem: string | null = null;
  let lineNo = 0;
  let eventCount = 0;
  let recordCount = 0;
  let recordProblem: string | null = null;
  let tooLong = false;
  const line = (text: string): void | Promise<void> => {
    const n = lineNo++;
    if (n === 0) {
      try {
        manifest = JSON.parse(text) as ArchiveManifest;
      } catch {
        manifestProblem = "does not start with a manifest";
        return;
      }
      const m = manifest as Partial<ArchiveManifest> | null;
      if (m?.format !== ARCHIVE_FORMAT || typeof m.events?.count !== "number" || typeof m.records?.requests !== "number") {
        manifestProblem = `is not a guard archive (format ${JSON.stringify(m?.format)})`;
      }
      return;
    }
    if (manifestProblem !== null) return;
    if (eventCount < manifest!.events.count) {
      eventCount++;
      events.update(text).update("\n");
      onEvent?.(text);
      return;
    }
    recordCount++;
    records.update(text).update("\n");
    if (recordProblem !== null) return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      recordProblem = "holds a record that is not JSON";
      return;
    }
    const problem = archivedRecordProblem(value);
    if (problem !== null) recordProblem = `holds a record guard never archives (record ${recordCount}: ${problem}): guard store prune did not write this archive`;
    else return onRecord?.(value as ArchivedRecord);
  };

  // Reads of 1 MiB, gunzipped 256 KiB at a time: a 300,000-event archive (220 MB of text) reads in the
  // time one gunzipSync of it took, at 66 MB of peak memory against 800 MB (16 KiB pieces took twice as long).
  const input = createReadStream(path, { highWaterMark: 1 << 20 });
  input.on("data", (chunk) => {
    file.update(chunk);
    bytes += chunk.length;
  });
  const gunzip = input.pipe(createGunzip({ chunkSize: 256 << 10 }));
  input.on("error", (e) => gunzip.destroy(e));
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let gzipProblem = false;
  let callerFailed: { error: unknown } | null = null;
  try {
    read: for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      let start = 0;
      for (let nl = chunk.indexOf(10); nl !== -1; start = nl + 1, nl = chunk.indexOf(10, start)) {
        const piece = chunk.subarray(start, nl);
        if (pendingBytes + piece.length > MAX_ARCHIVE_LINE) {
          tooLong = true;
          break read;
        }
        const busy = line(pendingBytes === 0 ? piece.toString("utf8") : Buffer.concat([...pending, piece]).toString("utf8"));
        if (busy !== undefined) {
          // The caller's records in flight: read on once it may. Its failure is its own, not the file's.
          try {
            await busy;
          } catch (e) {
            callerFailed = { error: e };
            break read;
          }
        }
        pending = [];
        pendingBytes = 0;
      }
      if (start < chunk.length) {
        pending.push(chunk.subarray(start));
        pendingBytes += chunk.length - start;
        if (pendingBytes > MAX_ARCHIVE_LINE) {
          tooLong = true;
          break;
        }
      }
    }
  } catch (e) {
    if (isIoError(e)) throw ioFailure("read the archive", path, e);
    gzipProblem = true;
  } finally {
    input.destroy();
    gunzip.destroy();
  }
  if (callerFailed !== null) throw callerFailed.error;
  const eventsSha256 = events.digest("hex");
  const recordsSha256 = records.digest("hex");
  const firstProblem = (): string | null => {
    if (gzipProblem) return "is not a gzip file (damaged or not an archive)";
    if (tooLong) return "holds a line longer than any guard writes (damaged or not an archive)";
    if (pendingBytes > 0 || lineNo === 0) return "ends with an incomplete line";
    if (manifestProblem !== null) return manifestProblem;
    const m = manifest!; // (a first line that is no manifest is a manifestProblem)
    if (eventCount !== m.events.count) return "holds fewer events than its manifest says";
    if (eventsSha256 !== m.events.sha256) return "holds other events than its manifest says (altered)";
    if (recordsSha256 !== m.records.sha256) return "holds other records than its manifest says (altered)";
    if (recordCount !== m.records.requests) return "holds another number of requests than its manifest says";
    return recordProblem;
  };
  return { sha256: file.digest("hex"), bytes, problem: firstProblem(), manifest, eventsSha256, recordsSha256 };
}

/** An error of the file itself (it cannot be opened or read), as opposed to what gunzip makes of it. */
function isIoError(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return typeof code === "string" && !code.startsWith("Z_") && code !== "ERR_STREAM_PREMATURE_CLOSE";
}

/**
 * Read an archive and check it against its own manifest (65 when it does not hold what it says): one
 * pass, keeping only the manifest; readArchiveContent reads the lines again for verify.
 */
export async function readArchive(path: string): Promise<Archive> {
  const scan = await scanArchive(path, null, null);
  if (scan.problem !== null) throw integrityError(`the archive ${path} ${scan.problem}`, "use the archive file `guard store prune` wrote, unaltered; its SHA-256 is in the store.pruned event");
  return { path, name: basename(path), sha256: scan.sha256, bytes: scan.bytes, manifest: scan.manifest! };
}

/**
 * The events and the records of an archive readArchive accepted, read again a line at a time: each event
 * line to `onEvent` and each record to `onRecord`, in order (when it returns a promise, reading goes on
 * once it is settled: verify's signature checks in flight). Null when the file still holds what
 * readArchive read, else the problem: it changed in between (what was handed on is then not to be
 * trusted, and the verification that used it must fail).
 */
export async function readArchiveContent(a: Archive, onEvent: (line: string) => void, onRecord: (r: ArchivedRecord) => void | Promise<void>): Promise<string | null> {
  const scan = await scanArchive(a.path, onEvent, onRecord);
  const same = scan.problem === null && scan.sha256 === a.sha256 && scan.bytes === a.bytes && scan.eventsSha256 === a.manifest.events.sha256 && scan.recordsSha256 === a.manifest.records.sha256;
  return same ? null : `the archive ${a.path} changed while it was being read (${scan.problem ?? "its SHA-256 differs"}); verify it again`;
}

/** A retired request with its approvals and consumption, as the archive holds it. */
export interface RetiredRecord {
  request: SignedRequest;
  approvals: SignedApproval[];
  consumption: Consumption | null;
}

/** What a prune needs of each stored request before it plans: its signed expiry, and its binding key (file store). */
export interface RequestFacts {
  expiresAt: string;
  bindingKey: string | null;
}

/**
 * The facts of every stored request, read a batch at a time (readRecords): a prune never holds all of
 * history's records (some 8 KB each in memory), only these. A store holding a damaged request record is
 * not pruned (65): run verify first.
 */
export async function requestFacts(batches: AsyncIterable<RecordBatch>, bindingKey: ((r: GuardRequest) => string) | null): Promise<Map<string, RequestFacts>> {
  const facts = new Map<string, RequestFacts>();
  const damaged: string[] = [];
  for await (const batch of batches) {
    for (const d of batch.damaged) damaged.push(d.where);
    for (const { request } of batch.records) facts.set(request.request.id, { expiresAt: request.request.expiresAt, bindingKey: bindingKey?.(request.request) ?? null });
  }
  if (damaged.length > 0) throw integrityError(`the store holds ${damaged.length} damaged record(s), e.g. ${damaged.sort()[0]!}; refusing to prune`, "run guard audit verify and deal with what it reports first");
  return facts;
}

/** What a prune will do, planned and archived in memory (both stores): the store then commits it its own way. */
export interface PreparedPrune {
  outcome: PruneOutcome;
  /** How many lines of the log are retired (a prefix). */
  k: number;
  /** The archive file's bytes, and the checkpoint's data; null when there is nothing to retire. */
  bytes: Buffer | null;
  checkpoint: Record<string, unknown> | null;
}

/**
 * Plan (core/prune.ts) and build the archive. `scan` is what the planner gathered of every event as the
 * store read its log, without keeping the events' text; `events(k, put)` then reads the log's first `k`
 * stored lines again (canonical event text), handing each to `put` in order, and throws when the log is
 * not what the plan was made from (so a prune never holds the retired events' text: each line is hashed
 * and gzipped as it goes by); `requests` is what the planner needs of every stored request
 * (requestFacts); `records` reads the retired requests with their approvals and consumptions, in the
 * order given, a few at a time, into the archive.
 */
export async function preparePrune(p: {
  description: string;
  opts: PruneOptions;
  archiveDir: string;
  scan: PruneScan;
  events: (k: number, put: (line: string) => void) => Promise<void>;
  requests: ReadonlyMap<string, RequestFacts>;
  records: (ids: readonly string[]) => AsyncIterable<RetiredRecord>;
  leftovers: number;
}): Promise<PreparedPrune> {
  const { opts, scan } = p;
  const plan = scan.plan([...p.requests].map(([id, f]) => ({ id, expiresMs: Date.parse(f.expiresAt) })));
  const k = scan.countThrough(plan.through);
  const outcome: PruneOutcome = {
    dryRun: opts.dryRun,
    cutoff: new Date(opts.cutoffMs).toISOString(),
    through: null,
    events: k,
    requests: plan.retired.length,
    approvals: 0,
    consumptions: 0,
    deferred: plan.deferred,
    leftovers: p.leftovers,
    retired: plan.retired,
    archive: null,
    checkpoint: null,
  };
  if (k === 0) return { outcome, k, bytes: null, checkpoint: null };
  const body = new ArchiveBody();
  const events = createHash("sha256");
  let given = 0;
  let firstLine = "";
  let lastLine = "";
  await p.events(k, (line) => {
    if (given === 0) firstLine = line;
    lastLine = line;
    given++;
    body.put(line, events);
  });
  if (given !== k) throw new GuardError(ExitCode.INTERNAL, `the prune planned ${k} events but was given ${given}; nothing was removed`, "This is a bug in guard: please report it");
  const first = JSON.parse(firstLine) as AuditEvent;
  const last = JSON.parse(lastLine) as AuditEvent;
  outcome.through = { seq: last.seq, hash: last.hash };
  const records = createHash("sha256");
  let n = 0;
  for await (const { request, approvals, consumption } of p.records(plan.retired)) {
    if (request.request.id !== plan.retired[n++]) throw new GuardError(ExitCode.INTERNAL, "the records of a prune were read out of order; nothing was removed", "This is a bug in guard: please report it");
    outcome.approvals += approvals.length;
    if (consumption) outcome.consumptions++;
    body.put(recordLine({ request, approvals, consumption }), records);
  }
  if (n !== plan.retired.length) throw new GuardError(ExitCode.INTERNAL, `the prune retires ${plan.retired.length} requests but read ${n}; nothing was removed`, "This is a bug in guard: please report it");
  const manifest: ArchiveManifest = {
    format: ARCHIVE_FORMAT,
    store: p.description,
    cutoff: outcome.cutoff,
    events: { count: k, firstSeq: first.seq, lastSeq: last.seq, firstPrev: first.prev, lastHash: last.hash, sha256: events.digest("hex") },
    records: { requests: plan.retired.length, approvals: outcome.approvals, consumptions: outcome.consumptions, sha256: records.digest("hex") },
    retired: plan.retired,
  };
  const bytes = body.finish(manifest);
  const name = archiveName(manifest);
  outcome.archive = { path: join(p.archiveDir, name), name, sha256: sha256Hex(bytes), bytes: bytes.length };
  const checkpoint = {
    olderThan: opts.olderThan,
    cutoff: outcome.cutoff,
    through: outcome.through,
    events: k,
    requests: outcome.requests,
    approvals: outcome.approvals,
    consumptions: outcome.consumptions,
    retired: plan.retired,
    archive: { name, sha256: outcome.archive.sha256, bytes: outcome.archive.bytes },
  };
  return { outcome, k, bytes, checkpoint };
}

function ioFailure(action: string, path: string, e: unknown): GuardError {
  if (e instanceof GuardError) return e;
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return new GuardError(ExitCode.IO, `cannot ${action} ${path}: ${code ?? String(e)}`, "check the path and its permissions, then retry", [], "io");
}
