/**
 * `guard audit verify` over a long log in the directory store, on several cores. Worker threads check
 * lines on their own — canonical form and hash (checkCanonicalLine), where nearly all the time goes —
 * while this thread reads the log and folds the checked lines into the chain in file order
 * (AuditVerifier.pushChecked), parsing any line a worker could not vouch for. The fold is the
 * sequential verifier itself, so the verdict is the one a line-by-line verification gives; only where
 * the work happens changes.
 *
 * The log is read in blocks of whole lines into shared memory; each block goes to a worker, which
 * sends back one record a line (offsets, seq, tracked type). At most a few blocks are in flight, so
 * memory stays bounded whatever the length of the log.
 *
 * A worker runs dist/audit-worker.cjs (src/adapters/store/audit-worker.ts), a bundle of its own built
 * beside guard.cjs, which serves checks only in a thread started for it (tagged in workerData).
 */
import { Buffer } from "node:buffer";
import { readSync } from "node:fs";
import { availableParallelism } from "node:os";
import { checkCanonicalLine, newCanonicalLine, type CanonicalLine } from "../../core/audit-line.js";
import { ExitCode, GuardError, integrityError } from "../../core/errors.js";
import type { AuditEvent } from "../../core/types.js";
import type { AuditLineSink } from "./types.js";
import { bundleDir, serveJobs, startWorkerPool, type WorkerPool } from "../worker-pool.js";

/** The workerData tag a worker checks before serving: the worker file does nothing in any other thread. */
export const AUDIT_WORKER_TAG = "access-guard/audit-parallel";
/** Bytes read a block: large enough that a block is worth a message, small enough to keep memory low. */
const BLOCK = 4 << 20;
const MAX_WORKERS = 4;
/** Blocks read ahead of the fold, per worker. */
const AHEAD = 2;

// One record a line, as float64s (seq may pass 2^31): where the line is, whether the worker vouches for
// it, and what pushChecked reads. Offsets are into the block.
const F_START = 0;
const F_END = 1;
const F_OK = 2;
const F_SEQ = 3;
const F_PREV = 4;
const F_MEMBER = 5;
const F_TRACKED = 6;
const F_RUN_ID = 7; // start, end, escaped
const F_REQUEST_ID = 10; // start, end, escaped
const F_ARGV = 13; // start, end
const F_DATA = 15;
const FIELDS = 16;

/** A block of whole lines for a worker: the first `length` bytes of `sab`. */
interface Job {
  sab: SharedArrayBuffer;
  length: number;
}

/** Worker side: check every line of each block it is given, in a record table sent back (transferred). */
export function serveChecks(): void {
  const line = newCanonicalLine();
  serveJobs((job: Job) => {
    const buf = Buffer.from(job.sab, 0, job.length);
    let n = 0;
    for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) n++;
    const records = new Float64Array(n * FIELDS);
    let start = 0;
    for (let k = 0; k < n; k++) {
      const end = buf.indexOf(10, start);
      const r = k * FIELDS;
      records[r + F_START] = start;
      records[r + F_END] = end;
      if (checkCanonicalLine(buf, start, end, line)) writeLine(records, r, line);
      start = end + 1;
    }
    return { answer: records, transfer: [records.buffer] };
  });
}

function writeLine(rec: Float64Array, r: number, l: CanonicalLine): void {
  rec[r + F_OK] = 1;
  rec[r + F_SEQ] = l.seq;
  rec[r + F_PREV] = l.prevAt;
  rec[r + F_MEMBER] = l.memberAt;
  rec[r + F_TRACKED] = l.tracked;
  rec[r + F_RUN_ID] = l.runIdStart;
  rec[r + F_RUN_ID + 1] = l.runIdEnd;
  rec[r + F_RUN_ID + 2] = l.runIdEscaped ? 1 : 0;
  rec[r + F_REQUEST_ID] = l.requestIdStart;
  rec[r + F_REQUEST_ID + 1] = l.requestIdEnd;
  rec[r + F_REQUEST_ID + 2] = l.requestIdEscaped ? 1 : 0;
  rec[r + F_ARGV] = l.argvStart;
  rec[r + F_ARGV + 1] = l.argvEnd;
  rec[r + F_DATA] = l.dataStart;
}

/** The record back into a CanonicalLine (pushChecked reads the hash from the line, where the worker found it right). */
function readLine(rec: Float64Array, r: number, l: CanonicalLine): void {
  l.seq = rec[r + F_SEQ]!;
  l.prevAt = rec[r + F_PREV]!;
  l.memberAt = rec[r + F_MEMBER]!;
  l.tracked = rec[r + F_TRACKED]!;
  l.runIdStart = rec[r + F_RUN_ID]!;
  l.runIdEnd = rec[r + F_RUN_ID + 1]!;
  l.runIdEscaped = rec[r + F_RUN_ID + 2] === 1;
  l.requestIdStart = rec[r + F_REQUEST_ID]!;
  l.requestIdEnd = rec[r + F_REQUEST_ID + 1]!;
  l.requestIdEscaped = rec[r + F_REQUEST_ID + 2] === 1;
  l.argvStart = rec[r + F_ARGV]!;
  l.argvEnd = rec[r + F_ARGV + 1]!;
  l.dataStart = rec[r + F_DATA]!;
  l.hash = "";
}

export type ParallelSink = AuditLineSink & Required<Pick<AuditLineSink, "pushChecked">>;

/**
 * Feed the whole log behind `fd` (a regular file, opened and checked by the caller) to the sink, lines
 * checked by worker threads. False, having read and fed nothing, when there is no use in threads (one
 * core) or they cannot be started (running from TypeScript sources, as the tests do); the caller then
 * reads the log itself. Errors are the sequential reader's: `parse` throws for a line that is not an
 * event, a torn last line is refused; a worker that fails is an internal error (70).
 */
export async function feedAuditParallel(fd: number, path: string, sink: ParallelSink, parse: (text: string, lineNo: number) => AuditEvent): Promise<boolean> {
  const cores = availableParallelism();
  if (cores < 2 || bundleDir === null) return false;
  const pool = await startWorkerPool<Job, Float64Array>(bundleDir, AUDIT_WORKER_TAG, Math.min(cores, MAX_WORKERS));
  if (pool === null) return false;
  try {
    await feed(fd, path, sink, parse, pool);
    return true;
  } finally {
    await pool.close();
  }
}

interface Block {
  sab: SharedArrayBuffer;
  buf: Buffer;
  records: Promise<Float64Array>;
}

async function feed(fd: number, path: string, sink: ParallelSink, parse: (text: string, lineNo: number) => AuditEvent, pool: WorkerPool<Job, Float64Array>): Promise<void> {
  const line = newCanonicalLine();
  const ahead: Block[] = [];
  let carry = Buffer.alloc(0); // the start of a line that the last read cut
  let position = 0;
  let eof = false;
  let lineNo = 1;

  // Blocks folded are reused: a new SharedArrayBuffer is zero-filled memory to fault in, every time.
  const spare: SharedArrayBuffer[] = [];

  /** The next block of whole lines, sent to a worker; null at the end of the log. */
  const readBlock = (): Block | null => {
    let size = Math.max(BLOCK, carry.length * 2);
    for (;;) {
      if (eof) return null;
      const reused = size === BLOCK ? spare.pop() : undefined;
      const sab = reused ?? new SharedArrayBuffer(size);
      const buf = Buffer.from(sab);
      carry.copy(buf, 0);
      let filled = carry.length;
      while (filled < size) {
        const n = readSync(fd, buf, filled, size - filled, position);
        if (n === 0) {
          eof = true;
          break;
        }
        position += n;
        filled += n;
      }
      const last = buf.lastIndexOf(10, filled - 1);
      carry = Buffer.from(buf.subarray(last + 1, filled)); // copied: the block is about to be shared
      if (last === -1) {
        if (eof) return null;
        size *= 2; // one line longer than a block: read on into a larger one
        continue;
      }
      const block = buf.subarray(0, last + 1);
      return { sab, buf: block, records: pool.run({ sab, length: block.length }) };
    }
  };

  const target = AHEAD * pool.size;
  for (;;) {
    while (ahead.length < target) {
      const b = readBlock();
      if (b === null) break;
      ahead.push(b);
    }
    const block = ahead.shift();
    if (block === undefined) break;
    let records: Float64Array;
    try {
      records = await block.records;
    } catch (e) {
      throw new GuardError(ExitCode.INTERNAL, `checking the audit log ${path} in worker threads failed: ${e instanceof Error ? e.message : String(e)}`, "This is a bug in guard; nothing was changed. Report it with the output of guard --version.");
    }
    const buf = block.buf;
    for (let r = 0; r < records.length; r += FIELDS) {
      if (records[r + F_OK] === 1) {
        readLine(records, r, line);
        if (sink.pushChecked(buf, line)) {
          lineNo++;
          continue;
        }
      }
      sink.push(parse(buf.toString("utf8", records[r + F_START], records[r + F_END]), lineNo++));
    }
    if (block.sab.byteLength === BLOCK) spare.push(block.sab);
  }
  if (carry.length > 0) {
    throw integrityError(
      `the audit log ${path} ends with an incomplete line ${lineNo} (a torn write)`,
      "guard stopped while appending. Keep a copy of the file, remove the incomplete last line, then run guard audit verify.",
    );
  }
}
