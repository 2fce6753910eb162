/**
 * The file store's prune reads its audit log three times, so that it never holds the log's text: once to
 * plan (file.ts: each event parsed for the planner, and the SHA-256 of every byte read), then
 * here, from the same file and up to the same size, to archive the retired events (rereadLog), and, once
 * the archive is written, to copy the events it keeps into the new log (copyKept). Each later read
 * compares what it read with the read before it: the file must be the same one (inode and device) and at
 * least as long (74 otherwise: another prune replaced it, or it was cut; run the prune again), and its
 * bytes up to that size the same (65 otherwise: only appends under the lock change the log, so anything
 * else is another writer, to investigate). Either way nothing is removed.
 *
 * Loaded with the archive code, only when pruning.
 */
import { closeSync, type promises as fsp } from "node:fs";
import { createHash } from "node:crypto";
import { ExitCode, GuardError, integrityError } from "../../core/errors.js";
import type { AuditEvent } from "../../core/types.js";
import { openRegular } from "../regular-file.js";
import { lineBlocks } from "./line-blocks.js";

/** Which file the audit log was, and how long, when the prune first read it (file.ts LogSnapshot). */
export interface LogSnapshot {
  ino: number;
  dev: number;
  size: number;
}

/** As the file store reads its log (file.ts AUDIT_CHUNK). */
const CHUNK = 1 << 20;
const AGAIN = "nothing was removed; run guard store prune again";
/** Found in the line of every request.created event (canonical JSON: no space after the colon). */
const CREATED = Buffer.from('"type":"request.created"');

/** The message of a log another prune replaced or that was cut (the commit's check words it the same: file.ts appendedSince). */
function replaced(path: string): GuardError {
  return new GuardError(ExitCode.IO, `the audit log ${path} was replaced or cut while it was being pruned (another guard store prune?); ${AGAIN}`, "run one prune at a time (a daily cron job, say)", [], "io");
}

function changed(path: string, snap: LogSnapshot, archived: boolean): GuardError {
  return integrityError(
    `the audit log ${path} changed while it was being pruned: its first ${snap.size} bytes are not what an earlier read of them found; nothing was removed${archived ? "; the archive written is not referenced" : ""}`,
    "only guard writes the log, and only at its end, under its lock: run guard audit verify and investigate",
  );
}

/**
 * Bytes [from, snap.size) of the log, in blocks that end at a newline (a block is valid until the next),
 * read from the file the plan read: another file or a shorter one is refused (74). A last block without
 * a newline can only be a change; it is handed on as it is, for the digests to find.
 */
function* logBlocks(path: string, snap: LogSnapshot, from: number): Generator<Buffer> {
  const opened = openRegular(path, { noFollow: true }); // no symlink, and a planted FIFO never blocks
  if ("fail" in opened) {
    if (opened.fail === "missing" || opened.fail === "not-regular") throw replaced(path);
    throw ioError(path, opened.error);
  }
  const { fd, st } = opened;
  try {
    if (st.ino !== snap.ino || st.dev !== snap.dev || st.size < snap.size) throw replaced(path);
    let read = from;
    try {
      for (const block of lineBlocks(fd, from, snap.size, CHUNK)) {
        // A last block without a newline that ends short of the planned size: the file was cut.
        if (block[block.length - 1] !== 10 && read + block.length < snap.size) throw replaced(path);
        read += block.length;
        yield block;
      }
    } catch (e) {
      throw ioError(path, e);
    }
    if (read < snap.size) throw replaced(path); // cut after the fstat
  } finally {
    closeSync(fd);
  }
}

function ioError(path: string, e: unknown): GuardError {
  if (e instanceof GuardError) return e;
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return new GuardError(ExitCode.IO, `cannot read the audit log ${path} to prune it: ${code ?? String(e)}; ${AGAIN}`, "check the store and its permissions, then retry", [], "io");
}

/** What the second read found past the retired events: where the kept ones start, and their SHA-256. */
export interface KeptPart {
  from: number;
  sha256: string;
}

/**
 * The second read: the log up to the size the plan read, from the same file; its first `k` lines to
 * `put`, in order, and the byte where the rest (the lines kept) starts, with that rest's SHA-256 for the
 * third read. Throws, having handed on lines that are then not to be used, when the file is not the one
 * the plan read (74) or its bytes differ (65, `planned` being their SHA-256 at the first read).
 */
export function rereadLog(path: string, snap: LogSnapshot, planned: string, k: number, put: (line: string) => void): KeptPart {
  const whole = createHash("sha256");
  const rest = createHash("sha256");
  let base = 0;
  let n = 0;
  let from = -1;
  for (const block of logBlocks(path, snap, 0)) {
    whole.update(block);
    let start = 0;
    while (from === -1) {
      if (n === k) {
        from = base + start;
        break;
      }
      const nl = block.indexOf(10, start);
      if (nl === -1) break;
      put(block.toString("utf8", start, nl));
      n++;
      start = nl + 1;
    }
    if (from !== -1) rest.update(from > base ? block.subarray(from - base) : block);
    base += block.length;
  }
  if (whole.digest("hex") !== planned || from === -1) throw changed(path, snap, false);
  return { from, sha256: rest.digest("hex") };
}

/**
 * The third read, once the archive is written: the kept lines (from `kept.from` to the size the plan
 * read) copied into the new log `out`, each checked to be what the second read found (74 or 65
 * otherwise). Returns each kept request.created event's offset in the new log (for index/created), and
 * how many bytes were copied.
 */
export async function copyKept(path: string, snap: LogSnapshot, kept: KeptPart, out: fsp.FileHandle): Promise<{ created: Map<string, number>; bytes: number }> {
  const h = createHash("sha256");
  const created = new Map<string, number>();
  let bytes = 0;
  for (const block of logBlocks(path, snap, kept.from)) {
    h.update(block);
    // The offsets of request.created events: only the lines that spell the type are parsed (as before).
    for (let at = block.indexOf(CREATED); at !== -1; ) {
      const start = block.lastIndexOf(10, at) + 1;
      let end = block.indexOf(10, at);
      if (end === -1) end = block.length;
      let e: AuditEvent | null = null;
      try {
        e = JSON.parse(block.toString("utf8", start, end)) as AuditEvent;
      } catch {
        // not JSON: the file changed, which the digest below reports
      }
      if (e?.type === "request.created" && typeof e.data?.requestId === "string") created.set(e.data.requestId, bytes + start);
      at = block.indexOf(CREATED, end);
    }
    await out.writeFile(block);
    bytes += block.length;
  }
  if (h.digest("hex") !== kept.sha256) throw changed(path, snap, true);
  return { created, bytes };
}
