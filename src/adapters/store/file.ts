import { isUtf8 } from "node:buffer";
import { createHash, randomBytes } from "node:crypto";
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fdatasyncSync,
  fsyncSync,
  fstatSync,
  ftruncateSync,
  lstatSync,
  mkdirSync,
  openSync,
  promises as fsp,
  readdirSync,
  readSync,
  renameSync,
  rmSync,
  unlinkSync,
  watch,
  writeSync,
  type Dirent,
  type FSWatcher,
  type Stats,
} from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { auditHash, auditShapeProblem, chainEvent } from "../../core/audit.js";
import { chooseSeekEntry, parseSeekIndex, seekEntryLine, seekHeader, seekTime, type SeekEntry } from "../../core/audit-seek.js";
import { canonicalJson, sha256Hex } from "../../core/canonical.js";
import { jsonTooDeep, TOO_DEEP } from "../../core/json-depth.js";
import { BINDING_KEY_RE, requestBindingKey } from "../../core/request.js";
import { configError, ExitCode, GuardError, integrityError, usageError } from "../../core/errors.js";
import type { AuditDraft, AuditEvent, Consumption, SignedApproval, SignedRequest } from "../../core/types.js";
import type { ParallelSink } from "./audit-parallel.js";
import { withFileLock } from "./lock.js";
import { CREATE_FLAGS, linkNewFile } from "./new-file.js";
import { lineBlocks } from "./line-blocks.js";
import { openRegular, READ_NOFOLLOW, readRegular, type ReadFailure } from "../regular-file.js";
import { approvalProblem, consumptionProblem, requestProblem } from "./records.js";
import { approvalsOrDamaged, REQUEST_ID_PREFIX_RE, REQUEST_ID_RE, type AuditFilter, type AuditLineSink, type ConsumptionList, type DamagedRecord, type PruneOptions, type PruneOutcome, type RecordBatch, type RequestList, type RequestWatch, type Store, waitThroughWatch } from "./types.js";
import { PruneScan, readCheckpoint } from "../../core/prune.js";
import type { RequestFacts, RetiredRecord } from "./archive.js";
import type { KeptPart } from "./prune-log.js";

/**
 * The embedded directory store.
 *
 *   <dir>/                                  0700, or 2770 group-shared (see below)
 *     requests/<id>.json                    SignedRequest, immutable (created with link(), never replaced)
 *     approvals/<id>/<sha256>.json          SignedApproval; the name is sha256(canonicalJson(approval)),
 *                                           so an identical re-submission is the same file
 *     consumed/<id>.json                    Consumption, created with O_CREAT|O_EXCL: the single-use gate
 *     audit/events.jsonl                    the audit chain, one JSON event per line
 *     index/binding/<key>/<expiresMs>-<id>  empty: request <id> has binding key <key> (core/request.ts)
 *     index/open/<expiresMs>-<id>           empty: request <id> may still be open (removed once expired
 *                                           or consumed, when a listing passes by)
 *     index/consumed/<id>                   empty: the audit log may hold request.consumed for <id>
 *     index/break-glass/<id>                empty: request <id> may be a break-glass run (`guard requests
 *                                           --review`); written before the record, removed only when
 *                                           prune retires the request
 *     index/created/<id>                    the byte offset in audit/events.jsonl of the request.created
 *                                           event of <id>: where a run's replay check starts reading
 *     index/audit-seek                      the sparse seek index of audit/events.jsonl for `audit log
 *                                           --since` (core/audit-seek.ts): built on first use, then
 *                                           extended by appends, under the audit lock
 *     index/v1                              the indexes hold every request and consumption (a store
 *                                           from before them is indexed once, on first use)
 *     index/v2                              index/break-glass holds every break-glass request (a store
 *                                           from before it is indexed once more, on first use)
 *     audit/lock                            held while appending (see lock.ts)
 *     archive/guard-archive-<a>-<b>-<cutoff>.jsonl.gz   what `guard store prune` retired (archive.ts), unless --archive-dir
 *
 * Private use: the directory is created on first use with mode 0700 and files 0600. Shared use by
 * several Unix users on one host (a bastion): the administrator creates it group-owned and setgid,
 *
 *     install -d -m 2770 -g guard /var/lib/access-guard
 *
 * and guard then keeps everything it creates group-writable (dirs 2770, files 0660).
 *
 * The store directory (and every directory in it) must be a real directory, not world-writable, owned
 * by the user, by root, or shared as above; otherwise it is refused with exit 78 (configuration): an
 * unsafe store is a setup to fix, not evidence of tampering. A symlink, FIFO or other odd file INSIDE
 * the store was planted there and is refused with exit 65 (integrity), as is any record that is empty,
 * truncated, not JSON or not the expected shape: a damaged record never reads as "not there" (S2, S4).
 * Everything else that goes wrong with the file system is exit 74 with the path.
 *
 * Records are written to a temporary file in the same directory (O_EXCL), fsynced, then linked to
 * their final name (link() fails if the name exists, so two writers can never both win) and the
 * directory is fsynced.
 */

export interface FileStoreOptions {
  /** Create the store directory if it does not exist (default true). `audit verify` passes false. */
  create?: boolean;
  /** Clock override, for tests of expiry and skew only; production uses Date.now. */
  now?: () => number;
  /** How long an audit append waits for another process's lock (default 10 s). */
  lockTimeoutMs?: number;
  /**
   * The seek index's spacing: an entry about every this many bytes of log (default 256 KiB). For tests
   * only, which exercise many entries on a small log; no store location sets it.
   */
  seekEveryBytes?: number;
}

/** The request id pattern (core/ids.ts), without its anchors, for the names built from it. */
const ID = REQUEST_ID_RE.source.slice(1, -1);
const REQUEST_FILE_RE = new RegExp(`^${ID}\\.json$`);
const APPROVAL_FILE_RE = /^[0-9a-f]{64}\.json$/;
const TEMP_FILE_RE = /^\..+\.tmp$/;
/** The entries of <store>/index this version writes; prune removes any other (it may hold offsets into the old log). */
const KNOWN_INDEXES = new Set(["binding", "open", "consumed", "created", "break-glass", "v1", "v2"]);
/** Records are a few KiB; a huge one was planted, and reading it would only exhaust memory. */
const MAX_RECORD_BYTES = 1 << 20;
const POLL_MS = 250;
/** An index entry: the request's expiry (epoch ms) and its id. */
const INDEX_ENTRY_RE = new RegExp(`^(\\d{1,16})-(${ID})$`);
/** Read size for the audit log: large reads, few system calls. */
const AUDIT_CHUNK = 1 << 20;
/** The seek index has an entry about every this many bytes of log (about 500 events). */
const SEEK_EVERY_DEFAULT = 256 << 10;
/** A seek index larger than this was not written by guard (a 100 GB log needs about 2 MB). */
const SEEK_MAX_BYTES = 16 << 20;
/** From this size on (about 8,000 events) audit verify checks lines in worker threads. */
const PARALLEL_AUDIT_BYTES = 4 << 20;
/** Requests a batch of readRecords. */
const RECORD_BATCH = 256;

export async function openFileStore(dir: string, opts: FileStoreOptions = {}): Promise<Store> {
  if (!isAbsolute(dir)) throw usageError(`the store directory must be an absolute path, got ${JSON.stringify(dir)}`, "Use file:/absolute/path.");
  const root = resolve(dir);
  // Synchronous, as in dir(): the store is opened on every run, and one lstat through the thread pool
  // would also start the pool.
  let st = lstatOrNullSync(root);
  if (st === null) {
    if (opts.create === false) {
      throw new GuardError(ExitCode.IO, `the store directory ${root} does not exist`, `Check --store / GUARD_STORE, or create it: install -d -m 0700 ${root}`, [], "io");
    }
    try {
      await fsp.mkdir(root, { recursive: true, mode: 0o700 });
      await fsp.chmod(root, 0o700); // whatever the umask: private until an administrator shares it
    } catch (e) {
      throw fsError("create the store directory", root, e);
    }
    st = await fsp.lstat(root).catch((e: unknown) => {
      throw fsError("inspect the store directory", root, e);
    });
  }
  if (st.isSymbolicLink()) throw unsafeRoot(root, "is a symlink", `Point guard at the real directory (${await fsp.realpath(root).catch(() => "?")}).`);
  if (!st.isDirectory()) throw unsafeRoot(root, "is not a directory", "Point --store / GUARD_STORE at a directory.");
  if ((st.mode & 0o002) !== 0) throw unsafeRoot(root, "is world-writable", SAFE_HINT(root));
  const shared = (st.mode & 0o2000) !== 0 && (st.mode & 0o020) !== 0;
  if (!shared && (st.mode & 0o020) !== 0) {
    throw unsafeRoot(root, "is group-writable but not set up for sharing", `Either chmod 0700 ${root}, or share it properly: chmod 2770 ${root} with a dedicated group.`);
  }
  checkSafe(root, st, shared, (what) => unsafeRoot(root, what, SAFE_HINT(root)));
  return new FileStore(root, shared, opts.now ?? (() => Date.now()), opts.lockTimeoutMs ?? 10_000, opts.seekEveryBytes ?? SEEK_EVERY_DEFAULT);
}

const SAFE_HINT = (root: string) =>
  `A private store: chown $USER ${root} && chmod 0700 ${root}. A store shared on this host: install -d -m 2770 -g guard ${root} and add the users to group guard.`;

function unsafeRoot(root: string, what: string, hint: string): GuardError {
  return configError(`the store directory ${root} ${what}; refusing to use it`, hint);
}

/** World-writable, or owned by someone who is neither us, nor root, nor sharing it with our group. */
function checkSafe(path: string, st: Stats, shared: boolean, fail: (what: string) => GuardError): void {
  if ((st.mode & 0o002) !== 0) throw fail("is world-writable");
  const uid = process.geteuid?.() ?? -1;
  if (st.uid === uid || st.uid === 0) return;
  if (shared && inGroup(st.gid)) return;
  throw fail(`is owned by uid ${st.uid}, not by you (uid ${uid}) or root${shared ? ", and you are not in its group" : ""}`);
}

function inGroup(gid: number): boolean {
  return process.getegid?.() === gid || (process.getgroups?.() ?? []).includes(gid);
}

class FileStore implements Store {
  readonly description: string;
  private readonly dirMode: number;
  private readonly fileMode: number;
  private readonly waiters = new Set<() => void>();
  private closed = false;

  constructor(
    private readonly root: string,
    private readonly shared: boolean,
    private readonly clock: () => number,
    private readonly lockTimeoutMs: number,
    private readonly seekEvery: number,
  ) {
    this.description = `file:${root}`;
    this.dirMode = shared ? 0o2770 : 0o700;
    this.fileMode = shared ? 0o660 : 0o600;
  }

  async now(): Promise<number> {
    return this.clock();
  }

  // --- requests ---------------------------------------------------------------------------------

  async putRequest(signed: SignedRequest): Promise<void> {
    const id = checkId(signed?.request?.id);
    assertShape(requestProblem(signed, id), `request ${id}`);
    const dir = await this.dir("requests", true);
    await this.ensureIndex();
    // Write-ahead for the break-glass index: an entry without its record (a crash in between, or the id
    // taken) is passed over, while a break-glass record without its entry would be hidden from --review.
    if (signed.request.breakGlass) await this.touch(await this.dir(join("index", "break-glass"), true), id);
    const created = await this.writeExclusive(dir, `${id}.json`, `${JSON.stringify(signed, null, 2)}\n`);
    if (!created) {
      throw integrityError(`request ${id} already exists in ${join(dir, `${id}.json`)}; requests are immutable`, "Create a new request instead (guard generates fresh ids).");
    }
    await this.indexRequest(signed.request, Date.parse(signed.request.expiresAt) > this.clock());
  }

  // --- indexes: hints that keep a run's cost independent of history -----------------------------
  //
  // Every entry is an empty file whose NAME is the information; entries are never opened, and a name
  // that is not an entry is ignored. Anyone who can write the store can write or remove entries: an
  // entry only says where to look, and the record it points to is read and judged as always. A removed
  // entry hides a request from a lookup (as removing the request would); the S3 witness is the audit
  // log, which `audit verify` checks against the consumption records.

  private indexReady = false;

  /**
   * Build the indexes a store does not have yet (once, by a full read); idempotent across processes. A
   * store from before every index has neither marker; one from before index/break-glass has only v1. A
   * request stored while another process builds is covered: putRequest writes its own entries after
   * this returns.
   */
  private async ensureIndex(): Promise<void> {
    if (this.indexReady) return;
    const index = await this.dir("index", true);
    if (lstatOrNullSync(join(index, "v1")) === null) {
      const listed = await this.listRequests();
      const now = this.clock();
      const consumedDir = join(this.root, "consumed");
      for (const r of listed.requests) {
        await this.indexRequest(r.request, Date.parse(r.request.expiresAt) > now && lstatOrNullSync(join(consumedDir, `${r.request.id}.json`)) === null);
      }
      await this.indexDamagedAsBreakGlass(listed.damaged);
      for await (const e of this.readAudit()) {
        const id = e.type === "request.consumed" ? e.data.requestId : undefined;
        if (typeof id === "string" && REQUEST_ID_RE.test(id)) await this.touch(await this.dir(join("index", "consumed"), true), id);
      }
      await this.touch(index, "v2");
      await this.touch(index, "v1");
    } else if (lstatOrNullSync(join(index, "v2")) === null) {
      const listed = await this.listRequests();
      for (const r of listed.requests) if (r.request.breakGlass) await this.touch(await this.dir(join("index", "break-glass"), true), r.request.id);
      await this.indexDamagedAsBreakGlass(listed.damaged);
      await this.touch(index, "v2");
    }
    this.indexReady = true;
  }

  /** A record that cannot be read may be a break-glass request: `--review` lists it as damaged. */
  private async indexDamagedAsBreakGlass(damaged: readonly DamagedRecord[]): Promise<void> {
    for (const d of damaged) if (d.id !== null && REQUEST_ID_RE.test(d.id)) await this.touch(await this.dir(join("index", "break-glass"), true), d.id);
  }

  private async indexRequest(req: SignedRequest["request"], open: boolean): Promise<void> {
    const entry = `${Math.max(0, Date.parse(req.expiresAt) || 0)}-${req.id}`;
    await this.dir(join("index", "binding"), true);
    await this.touch(await this.dir(join("index", "binding", requestBindingKey(req)), true), entry);
    if (open) await this.touch(await this.dir(join("index", "open"), true), entry);
    if (req.breakGlass) await this.touch(await this.dir(join("index", "break-glass"), true), req.id); // (putRequest wrote it first)
  }

  /** Create an empty file (an index entry) durably; one already there is fine. */
  private async touch(dir: string, name: string): Promise<void> {
    const path = join(dir, name);
    try {
      closeSync(openSync(path, CREATE_FLAGS, this.fileMode));
    } catch (e) {
      if (errCode(e) === "EEXIST") return;
      throw fsError("write the index entry", path, e);
    }
    fsyncDir(dir);
  }

  /**
   * The unexpired entries of an index directory, as request ids; entries of expired requests (and, for
   * `open`, of consumed ones) are removed on the way, best effort.
   */
  private async indexed(rel: string, now: number, dropConsumed: boolean): Promise<string[]> {
    await this.ensureIndex();
    const dir = await this.dir(rel, false);
    if (dir === null) return [];
    const names = await fsp.readdir(dir).catch((e: unknown) => {
      throw fsError("list", dir, e);
    });
    const ids: string[] = [];
    const consumedDir = join(this.root, "consumed");
    for (const name of names) {
      const m = INDEX_ENTRY_RE.exec(name);
      if (!m) continue;
      const id = m[2]!;
      if (Number(m[1]) <= now || (dropConsumed && lstatOrNullSync(join(consumedDir, `${id}.json`)) !== null)) {
        await fsp.unlink(join(dir, name)).catch(() => undefined);
        continue;
      }
      ids.push(id);
    }
    return ids;
  }

  async findRequestsByBinding(key: string, now: number): Promise<RequestList> {
    if (!BINDING_KEY_RE.test(key)) throw usageError(`invalid binding key ${JSON.stringify(key)}`);
    return this.readListed(await this.indexed(join("index", "binding", key), now, false));
  }

  async listRequestIds(prefix: string): Promise<string[]> {
    if (!REQUEST_ID_PREFIX_RE.test(prefix)) throw usageError(`invalid request id prefix ${JSON.stringify(prefix)}`);
    const dir = await this.dir("requests", false);
    if (dir === null) return [];
    const names = await fsp.readdir(dir).catch((e: unknown) => {
      throw fsError("list", dir, e);
    });
    return names.filter((n) => REQUEST_FILE_RE.test(n) && n.startsWith(prefix)).map((n) => n.slice(0, -".json".length)).sort();
  }

  async listOpenRequests(now: number): Promise<RequestList> {
    return this.readListed(await this.indexed(join("index", "open"), now, true));
  }

  /**
   * The requests index/break-glass names (entries are kept until prune retires the request: whether a
   * break-glass run was reviewed is judged against the policy in force, so no entry is ever "done"),
   * keeping those whose record says break-glass. A name that is not a request id is passed over, as is
   * an entry for a request not stored; a record that cannot be read is listed as damaged.
   */
  async listBreakGlassRequests(): Promise<RequestList> {
    try {
      await this.ensureIndex();
    } catch (e) {
      // A store from before the index that cannot be written (a read-only copy being verified, a full
      // disk): this time, the full read the indexing makes is the answer.
      if (!(e instanceof GuardError) || e.exitCode !== ExitCode.IO) throw e;
      const all = await this.listRequests();
      return { requests: all.requests.filter((r) => r.request.breakGlass), damaged: all.damaged };
    }
    const dir = await this.dir(join("index", "break-glass"), false);
    if (dir === null) return { requests: [], damaged: [] };
    const names = await fsp.readdir(dir).catch((e: unknown) => {
      throw fsError("list", dir, e);
    });
    const listed = await this.readListed(names.filter((n) => REQUEST_ID_RE.test(n)));
    return { requests: listed.requests.filter((r) => r.request.breakGlass), damaged: listed.damaged };
  }

  /** The requests these ids name, newest first; one that cannot be read is listed as damaged (H4). */
  private async readListed(ids: string[]): Promise<RequestList> {
    const dir = await this.dir("requests", false);
    if (dir === null) return { requests: [], damaged: [] };
    const out: SignedRequest[] = [];
    const damaged: DamagedRecord[] = [];
    for (const id of [...new Set(ids)]) {
      try {
        const r = readRequestSync(join(dir, `${id}.json`), id);
        if (r !== null) out.push(r);
      } catch (e) {
        if (!(e instanceof GuardError)) throw e;
        damaged.push({ id, where: join(dir, `${id}.json`), problem: e.message });
      }
    }
    return {
      requests: out.sort((a, b) => cmp(b.request.createdAt, a.request.createdAt) || cmp(a.request.id, b.request.id)),
      damaged: damaged.sort((a, b) => cmp(a.where, b.where)),
    };
  }

  /**
   * S3 without reading all of history; the audit log stays the witness. A request the consumed index
   * names (its entry is written before the request.consumed event is appended) has the whole log read.
   * Otherwise the log is read from where this request's request.created event begins
   * (index/created/<id>), since a consumption can only come after it; that offset is a hint too: the
   * line there must be that event, intact, or the whole log is read, as for a request without hints.
   * To replay, a store writer must now both remove the consumed entry and forge the log after the
   * consumption, besides deleting the consumption record, which `audit verify` reports (S3).
   */
  async *consumedEvents(requestId: string): AsyncIterable<AuditEvent> {
    checkId(requestId);
    await this.ensureIndex();
    const named = lstatOrNullSync(join(this.root, "index", "consumed", requestId)) !== null;
    let tail: AuditEvent[] | null = null;
    if (!named) {
      try {
        tail = this.consumedSinceCreated(requestId);
      } catch (e) {
        if (!(e instanceof GuardError)) throw e; // anything odd: the whole log decides
      }
    }
    if (tail !== null) {
      yield* tail;
      return;
    }
    for await (const e of this.readAudit()) if (e.type === "request.consumed") yield e;
  }

  /**
   * The request.consumed events from this request's request.created event on; null when the hint does not
   * hold. Synchronous reads, as the append's: a run reads what was logged since its request was made.
   */
  private consumedSinceCreated(requestId: string): AuditEvent[] | null {
    const hint = readRecordText(join(this.root, "index", "created", requestId));
    if (hint === null || !/^\d{1,15}\n$/.test(hint)) return null;
    const start = Number(hint.trim());
    const path = join(this.root, "audit", "events.jsonl");
    const opened = openRegular(path, { noFollow: true });
    if ("fail" in opened) return opened.fail === "not-regular" ? null : readFailure(path, opened);
    const { fd, st } = opened;
    try {
      if (start >= st.size) return null;
      const out: AuditEvent[] = [];
      let first = true;
      for (const block of lineBlocks(fd, start, Number.POSITIVE_INFINITY, 1 << 16)) {
        if (block[block.length - 1] !== 10) return null; // an incomplete last line
        for (let lineStart = 0, nl = block.indexOf(10); nl !== -1; lineStart = nl + 1, nl = block.indexOf(10, lineStart)) {
          const e = parseAuditLine(block.toString("utf8", lineStart, nl), "last", path);
          if (first) {
            if (e.type !== "request.created" || e.data.requestId !== requestId || auditHash(e) !== e.hash) return null;
            first = false;
          } else if (e.type === "request.consumed") {
            out.push(e);
          }
        }
      }
      return first ? null : out;
    } finally {
      closeSync(fd);
    }
  }

  async getRequest(id: string): Promise<SignedRequest | null> {
    checkId(id);
    const dir = await this.dir("requests", false);
    if (dir === null) return null;
    return readRequestSync(join(dir, `${id}.json`), id);
  }

  async listRequests(): Promise<RequestList> {
    const dir = await this.dir("requests", false);
    if (dir === null) return { requests: [], damaged: [] };
    const damaged: DamagedRecord[] = [];
    const ids: string[] = [];
    for (const name of await this.entries(dir, damaged)) {
      if (!REQUEST_FILE_RE.test(name)) {
        damaged.push({ id: null, where: join(dir, name), problem: `unexpected file ${join(dir, name)} in the store (only guard writes here: inspect it and remove it)` });
        continue;
      }
      ids.push(name.slice(0, -".json".length));
    }
    // One unreadable record is listed as damaged; the others are still listed (SECURITY H4).
    const listed = await this.readListed(ids);
    return { requests: listed.requests, damaged: [...damaged, ...listed.damaged].sort((a, b) => cmp(a.where, b.where)) };
  }

  /**
   * audit verify: the requests directory listed once, then each request and its approvals read
   * synchronously (small files; the thread pool costs more than the reads), a batch at a time.
   */
  readRecords(): AsyncIterable<RecordBatch> {
    return this.recordBatches(true);
  }

  /** readRecords, or (for a prune's plan, which needs the requests only) without reading approvals: each `[]`. */
  private async *recordBatches(withApprovals: boolean): AsyncIterable<RecordBatch> {
    const dir = this.dirSync("requests");
    if (dir === null) return;
    const first: DamagedRecord[] = [];
    const names = this.entriesSync(dir, first);
    const approvalsDir = withApprovals ? this.dirSync("approvals") : null;
    let batch: RecordBatch = { records: [], damaged: first };
    for (const name of names) {
      const path = join(dir, name);
      if (!REQUEST_FILE_RE.test(name)) {
        batch.damaged.push({ id: null, where: path, problem: `unexpected file ${path} in the store (only guard writes here: inspect it and remove it)` });
        continue;
      }
      const id = name.slice(0, -".json".length);
      let request: SignedRequest;
      try {
        const read = readRequestSync(path, id);
        if (read === null) continue; // removed since the listing (a prune)
        request = read;
      } catch (e) {
        if (!(e instanceof GuardError)) throw e;
        batch.damaged.push({ id, where: path, problem: e.message });
        continue;
      }
      const approvals = approvalsOrDamaged(() => (approvalsDir === null ? [] : this.approvalsSync(id)));
      batch.records.push({ request, approvals });
      if (batch.records.length === RECORD_BATCH) {
        yield batch;
        batch = { records: [], damaged: [] };
      }
    }
    if (batch.records.length > 0 || batch.damaged.length > 0) yield batch;
  }

  // --- approvals --------------------------------------------------------------------------------

  async putApproval(requestId: string, approval: SignedApproval): Promise<void> {
    checkId(requestId);
    assertShape(approvalProblem(approval, requestId), `approval for ${requestId}`);
    await this.dir("approvals", true);
    const dir = await this.dir(join("approvals", requestId), true);
    const name = sha256Hex(canonicalJson(approval));
    if (await this.writeExclusive(dir, `${name}.json`, `${JSON.stringify(approval, null, 2)}\n`)) return;
    // Content-addressed: the same name must hold the same approval, or the file was edited.
    await this.readApproval(join(dir, `${name}.json`), requestId, name);
  }

  async listApprovals(requestId: string): Promise<SignedApproval[]> {
    checkId(requestId);
    if (this.dirSync("approvals") === null) return [];
    return this.approvalsSync(requestId);
  }

  /**
   * The approvals of a request, read synchronously: a few small files each, for which a trip through
   * libuv's thread pool per call (open, stat, read, close) costs more than the reads.
   */
  private approvalsSync(requestId: string): SignedApproval[] {
    const dir = this.dirSync(join("approvals", requestId));
    if (dir === null) return [];
    const out: Array<{ a: SignedApproval; name: string }> = [];
    for (const file of this.entriesSync(dir)) {
      if (!APPROVAL_FILE_RE.test(file)) throw integrityError(`unexpected file ${join(dir, file)} in the store`, "Only guard writes here: inspect it and remove it.");
      const name = file.slice(0, -".json".length);
      const a = this.approvalFrom(readRecordSync(join(dir, file)), join(dir, file), requestId, name);
      if (a !== null) out.push({ a, name });
    }
    return out.sort((x, y) => cmp(x.a.statement.createdAt, y.a.statement.createdAt) || cmp(x.name, y.name)).map((x) => x.a);
  }

  private async readApproval(path: string, requestId: string, name: string): Promise<SignedApproval | null> {
    return this.approvalFrom(readRecordSync(path), path, requestId, name);
  }

  private approvalFrom(rec: { value: unknown } | null, path: string, requestId: string, name: string): SignedApproval | null {
    if (rec === null) return null;
    const v = rec.value;
    assertRecord(approvalProblem(v, requestId), path);
    if (sha256Hex(canonicalJson(v)) !== name) throw integrityError(`${path} was edited: its content no longer matches its name`, "Inspect the store; remove the file if it is not genuine.");
    return v as SignedApproval;
  }

  // --- consumption ------------------------------------------------------------------------------

  async consume(record: Consumption): Promise<boolean> {
    const id = checkId(record?.requestId);
    assertShape(consumptionProblem(record, id), `consumption of ${id}`);
    const dir = await this.dir("consumed", true);
    // The single-use gate (A12): the record is written completely to a temporary file, then link()ed to
    // its final name — link() fails if the name exists, so of any number of racing processes exactly
    // one wins, and a crash can never leave a torn record behind (X2). A planted file or symlink with
    // this name also makes the approval unusable: fail closed.
    return this.writeExclusive(dir, `${id}.json`, `${JSON.stringify(record, null, 2)}\n`, "write the consumption record (nothing was consumed)");
  }


  async getConsumption(requestId: string): Promise<Consumption | null> {
    checkId(requestId);
    const dir = await this.dir("consumed", false);
    if (dir === null) return null;
    return readConsumptionSync(join(dir, `${requestId}.json`), requestId);
  }

  async listConsumptions(): Promise<ConsumptionList> {
    const out: ConsumptionList = { consumptions: [], damaged: [] };
    const dir = await this.dir("consumed", false);
    if (dir === null) return out;
    for (const name of this.entriesSync(dir, out.damaged).sort()) {
      const path = join(dir, name);
      if (!REQUEST_FILE_RE.test(name)) {
        out.damaged.push({ id: null, where: path, problem: `unexpected file ${path} in the store (only guard writes here: inspect it and remove it)` });
        continue;
      }
      try {
        const c = readConsumptionSync(path, name.slice(0, -".json".length));
        if (c !== null) out.consumptions.push(c);
      } catch (e) {
        if (!(e instanceof GuardError)) throw e;
        out.damaged.push({ id: name.slice(0, -".json".length), where: path, problem: e.message });
      }
    }
    out.damaged.sort((a, b) => cmp(a.where, b.where));
    return out;
  }

  // --- waiting ----------------------------------------------------------------------------------

  waitForChange(requestId: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return waitThroughWatch(this, requestId, timeoutMs, signal);
  }

  /**
   * The watch remembers a fingerprint of the request's approvals and consumption taken BEFORE the
   * caller's read (when the watch begins, then whenever a wait ends on a change), so a record linked
   * between that read and the next wait still ends it at once. fs.watch only says when to look again;
   * the fingerprint decides, and a poll covers file systems where fs.watch is silent (NFS).
   */
  async watchRequest(requestId: string): Promise<RequestWatch> {
    checkId(requestId);
    const approvals = join(this.root, "approvals");
    const mine = join(approvals, requestId);
    const consumed = join(this.root, "consumed");
    const snapshot = () => this.snapshot(mine, consumed, requestId);
    let base = await snapshot();
    let closed = false;
    return {
      close: () => {
        closed = true;
      },
      wait: (timeoutMs: number, signal?: AbortSignal): Promise<void> =>
        new Promise<void>((done) => {
          if (closed || this.closed || signal?.aborted || !(timeoutMs > 0)) {
            done();
            return;
          }
          const watchers = new Map<string, FSWatcher>();
          let finished = false;
          const check = (): void => {
            if (finished) return;
            watchAll(); // a directory created since (the request's first approval) is watched from now on
            void snapshot().then((now) => {
              if (finished || now === base) return;
              base = now;
              finish();
            });
          };
          const relevant = (want: (name: string) => boolean) => (_: string, name: string | Buffer | null) => {
            if (name === null || want(String(name))) check();
          };
          const watchAll = (): void => {
            addWatch(watchers, this.root, relevant((n) => n === "approvals" || n === "consumed"));
            addWatch(watchers, approvals, relevant((n) => n === requestId));
            addWatch(watchers, mine, relevant((n) => !n.startsWith(".")));
            addWatch(watchers, consumed, relevant((n) => n.startsWith(requestId)));
          };
          const finish = (): void => {
            if (finished) return;
            finished = true;
            clearTimeout(timer);
            clearInterval(poll);
            for (const w of watchers.values()) w.close();
            signal?.removeEventListener("abort", finish);
            this.waiters.delete(finish);
            done();
          };
          const poll = setInterval(check, POLL_MS);
          const timer = setTimeout(finish, timeoutMs);
          signal?.addEventListener("abort", finish, { once: true });
          this.waiters.add(finish);
          // Watch first, then compare: a change after this point fires a watcher or shows in the fingerprint.
          check();
        }),
    };
  }

  /** A cheap fingerprint of what waitForChange watches; an error also reads as a change (callers re-read). */
  private async snapshot(approvalsDir: string, consumedDir: string, id: string): Promise<string> {
    try {
      const names = await fsp.readdir(approvalsDir).catch((e: unknown) => (errCode(e) === "ENOENT" ? [] : Promise.reject(e)));
      const consumed = lstatOrNullSync(join(consumedDir, `${id}.json`));
      return `${names.filter((n) => !TEMP_FILE_RE.test(n)).sort().join(",")}|${consumed !== null}`;
    } catch (e) {
      return `error:${errCode(e)}`;
    }
  }

  // --- audit ------------------------------------------------------------------------------------

  /**
   * Under the lock, in synchronous system calls (nothing runs alongside, and each asynchronous call
   * would be a round trip through libuv's thread pool): open with O_NOFOLLOW, read the head from the
   * end, append one line, fdatasync it (the data and the new size: the event is on disk before the
   * caller goes on, say to run a command), and on any failure cut the file back to where it ended.
   */
  async appendAudit(draft: AuditDraft): Promise<AuditEvent> {
    // Write-ahead for the consumed index: an entry without its event only costs a log read.
    const consumedId = draft.type === "request.consumed" ? (draft.data as { requestId?: unknown }).requestId : undefined;
    if (typeof consumedId === "string" && REQUEST_ID_RE.test(consumedId)) {
      await this.ensureIndex();
      await this.touch(await this.dir(join("index", "consumed"), true), consumedId);
    }
    const dir = await this.dir("audit", true);
    const path = join(dir, "events.jsonl");
    let offset = -1;
    const event = await withFileLock(
      join(dir, "lock"),
      async () => {
        let fd: number;
        try {
          fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW, this.fileMode);
        } catch (e) {
          if (errCode(e) === "ELOOP") throw integrityError(`the audit log ${path} is a symlink`, "Someone planted it: inspect the store.");
          if (errCode(e) === "EISDIR") throw integrityError(`the audit log ${path} is not a regular file`, "Inspect the store.");
          throw fsError("open the audit log", path, e);
        }
        try {
          const st = fstatSync(fd);
          if (!st.isFile()) throw integrityError(`the audit log ${path} is not a regular file`, "Inspect the store.");
          // A new log gets the store's mode whatever the umask: that matters for a shared store's group.
          if (st.size === 0 && this.shared && st.uid === process.geteuid?.()) fchmodSync(fd, this.fileMode);
          const last = readLastEvent(fd, st.size, path);
          const event = chainEvent(last, draft, new Date(this.clock()).toISOString());
          const line = Buffer.from(`${canonicalJson(event)}\n`);
          try {
            for (let off = 0; off < line.length; ) off += writeSync(fd, line, off);
            fdatasyncSync(fd);
          } catch (e) {
            // Leave no torn line behind: we hold the lock, so the file ended at st.size before us.
            try {
              ftruncateSync(fd, st.size);
            } catch {
              // the read path reports a torn line if this failed too
            }
            throw fsError("append to the audit log (nothing was run)", path, e);
          }
          if (st.size === 0) fsyncDir(dir);
          offset = st.size;
          // A hint: an index that cannot be extended is rebuilt by the next `audit log --since`.
          try {
            this.extendSeekIndex(fd, st, event);
          } catch {
            // nothing: the log itself is written
          }
          return event;
        } catch (e) {
          // A failing system call is the store's problem (74); anything else (a draft with no JSON form)
          // is the caller's and goes up as it is.
          throw errCode(e) !== undefined ? fsError("append to the audit log (nothing was run)", path, e) : e;
        } finally {
          closeSync(fd);
        }
      },
      { mode: this.fileMode, what: `the audit log ${path}`, timeoutMs: this.lockTimeoutMs },
    );
    const createdId = draft.type === "request.created" ? (draft.data as { requestId?: unknown }).requestId : undefined;
    if (typeof createdId === "string" && REQUEST_ID_RE.test(createdId) && offset >= 0) {
      // Where this request's events begin, for its replay check. Best effort: without it that check
      // reads the whole log, as it always could.
      try {
        await this.dir("index", true);
        await this.writeExclusive(await this.dir(join("index", "created"), true), createdId, `${offset}\n`);
      } catch {
        // the event is appended; only the shortcut is missing
      }
    }
    return event;
  }

  // --- audit log reads through indexes (guard audit log with filters) ----------------------------

  /**
   * From where the events that can match begin: with --request, the request's request.created event
   * (index/created, checked as for the replay check; the request's events cannot come before the event
   * that created it, as guard writes them); with --since, the seek index (core/audit-seek.ts). When both
   * hold, the later start. --type and --actor alone read the whole log.
   */
  async *readAuditFiltered(filter: AuditFilter): AsyncIterable<AuditEvent> {
    let start = 0;
    if (filter.requestId !== undefined && REQUEST_ID_RE.test(filter.requestId)) {
      start = Math.max(start, (await this.createdOffset(filter.requestId)) ?? 0);
    }
    if (filter.sinceMs !== undefined) start = Math.max(start, (await this.seekSince(filter.sinceMs)) ?? 0);
    const at = { line: start === 0 ? 1 : 0 };
    for await (const { buf, path } of this.auditBlocks(at, start)) {
      for (let s = 0, nl = buf.indexOf(10, 0); nl !== -1; s = nl + 1, nl = buf.indexOf(10, s)) {
        yield parseAuditLine(buf.toString("utf8", s, nl), start === 0 ? at.line++ : `a line after byte ${start}`, path);
      }
    }
  }

  /** The offset index/created/<id> names, when the line there is that request's intact request.created event. */
  private async createdOffset(requestId: string): Promise<number | null> {
    try {
      const hint = readRecordText(join(this.root, "index", "created", requestId));
      if (hint === null || !/^\d{1,15}\n$/.test(hint)) return null;
      const offset = Number(hint.trim());
      const e = this.eventAt(offset);
      return e !== null && e.type === "request.created" && e.data.requestId === requestId && auditHash(e) === e.hash ? offset : null;
    } catch (e) {
      if (e instanceof GuardError) return null; // anything odd: read from the start
      throw e;
    }
  }

  /**
   * The event whose line begins at `offset` (a newline just before it), or null. Reads at most 1 MiB:
   * a longer line is read from the start by the caller instead. Synchronous system calls, as the append
   * makes them: four bounded calls, where each asynchronous one is a round trip through libuv's thread
   * pool (on a loaded machine, a wait for a thread to be scheduled each time).
   */
  private eventAt(offset: number): AuditEvent | null {
    const path = join(this.root, "audit", "events.jsonl");
    const opened = openRegular(path, { noFollow: true });
    if ("fail" in opened) return opened.fail === "not-regular" ? null : readFailure(path, opened);
    const { fd, st } = opened;
    try {
      if (offset < 1 || offset >= st.size) return null;
      const buf = Buffer.allocUnsafe(Math.min(AUDIT_CHUNK, st.size - offset + 1));
      const bytesRead = readSync(fd, buf, 0, buf.length, offset - 1);
      const nl = buf.indexOf(10, 1);
      if (buf[0] !== 10 || nl === -1 || nl >= bytesRead) return null;
      return parseAuditLine(buf.toString("utf8", 1, nl), "last", path);
    } catch (e) {
      if (e instanceof GuardError) return null;
      throw e;
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Where `audit log --since` starts reading: the chosen seek entry's offset once the line there is the
   * event it names, else null (the whole log). An index that is missing, torn, or made for another log
   * (rewritten by prune: another inode or first line) is rebuilt first, by one read of the log.
   */
  private async seekSince(sinceMs: number): Promise<number | null> {
    const logPath = join(this.root, "audit", "events.jsonl");
    const ident = await logIdentity(logPath);
    if (ident === null) return null;
    let entries = this.readSeekIndex(ident);
    if (entries === null) entries = await this.buildSeekIndex(logPath, ident);
    if (entries === null) return null;
    const chosen = chooseSeekEntry(entries, sinceMs);
    if (chosen === null) return null;
    const e = this.eventAt(chosen.offset);
    return e !== null && e.seq === chosen.seq ? chosen.offset : null;
  }

  /** The entries of index/audit-seek when it was made for this log, else null. */
  private readSeekIndex(ident: LogIdentity): SeekEntry[] | null {
    const read = readRegular(join(this.root, "index", "audit-seek"), { noFollow: true, max: SEEK_MAX_BYTES });
    // Installed by a rename, never written in place: a file whose length changed while it was read is not one.
    if ("fail" in read || read.bytes.length !== read.st.size) return null;
    const index = parseSeekIndex(read.bytes.toString("utf8"));
    if (index === null || index.ino !== ident.ino || index.firstLine !== ident.firstLine) return null;
    return index.entries;
  }

  /**
   * Build the seek index by one read of the log, outside the lock; install it under the lock if the log
   * is still the same file (appends since then are covered by the next append, which extends the index
   * from its last entry). Null when the log cannot be read through (the caller's full read reports why).
   */
  private async buildSeekIndex(logPath: string, ident: LogIdentity): Promise<SeekEntry[] | null> {
    const entries: SeekEntry[] = [];
    let max = -Infinity;
    let offset = 0;
    let last = 0;
    try {
      const at = { line: 1 };
      for await (const { buf, path } of this.auditBlocks(at)) {
        for (let s = 0, nl = buf.indexOf(10, 0); nl !== -1; s = nl + 1, nl = buf.indexOf(10, s)) {
          const e = parseAuditLine(buf.toString("utf8", s, nl), at.line++, path);
          if (offset > 0 && offset - last >= this.seekEvery) {
            entries.push({ seq: e.seq, offset, maxBefore: max });
            last = offset;
          }
          max = Math.max(max, seekTime(e.time));
          offset += nl + 1 - s;
        }
      }
    } catch (e) {
      if (e instanceof GuardError) return null;
      throw e;
    }
    const text = seekHeader(ident.ino, ident.firstLine) + entries.map(seekEntryLine).join("");
    try {
      const index = await this.dir("index", true);
      const tmp = join(index, `.audit-seek.${randomBytes(8).toString("hex")}.tmp`);
      await fsp.writeFile(tmp, text, { flag: "wx", mode: this.fileMode });
      await fsp.chmod(tmp, this.fileMode); // whatever the umask: a shared store's group extends it too
      try {
        await withFileLock(
          join(this.root, "audit", "lock"),
          async () => {
            const now = await logIdentity(logPath);
            if (now !== null && now.ino === ident.ino && now.firstLine === ident.firstLine && now.size >= offset) await fsp.rename(tmp, join(index, "audit-seek"));
          },
          { mode: this.fileMode, what: `the audit log ${logPath}`, timeoutMs: this.lockTimeoutMs },
        );
      } finally {
        await fsp.unlink(tmp).catch(() => undefined);
      }
    } catch {
      // not installed: this read still uses the entries
    }
    return entries;
  }

  /**
   * Under the audit lock, after `event` was appended at st.size: a new log starts its index; an index
   * made for this log gets an entry for this event when its last entry is `seekEvery` bytes back (the
   * lines since are read for their times). Synchronous, like the append.
   */
  private extendSeekIndex(fd: number, st: Stats, event: AuditEvent): void {
    const path = join(this.root, "index", "audit-seek");
    if (st.size === 0) {
      const first = firstLineDigest(fd);
      if (first === null) return;
      mkdirIndexSync(this.root, this.dirMode);
      const tmp = join(this.root, "index", `.audit-seek.${randomBytes(8).toString("hex")}.tmp`);
      try {
        const w = openSync(tmp, CREATE_FLAGS, this.fileMode);
        try {
          fchmodSync(w, this.fileMode);
          writeSync(w, seekHeader(String(st.ino), first));
        } finally {
          closeSync(w);
        }
        renameSync(tmp, path);
      } finally {
        try {
          unlinkSync(tmp);
        } catch {
          // renamed
        }
      }
      return;
    }
    let ifd: number;
    try {
      ifd = openSync(path, constants.O_RDWR | constants.O_APPEND | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch {
      return; // none yet: the next `audit log --since` builds it
    }
    try {
      const ist = fstatSync(ifd);
      if (!ist.isFile() || ist.size > SEEK_MAX_BYTES) return;
      const tail = Buffer.alloc(Math.min(ist.size, 256));
      readSync(ifd, tail, 0, tail.length, ist.size - tail.length);
      const head = Buffer.alloc(Math.min(ist.size, 128));
      readSync(ifd, head, 0, head.length, 0);
      const headLine = head.toString("utf8").split("\n")[0]!;
      const header = parseSeekIndex(`${headLine}\n`);
      if (header === null || header.ino !== String(st.ino) || header.firstLine !== firstLineDigest(fd)) return;
      if (tail.length === 0 || tail[tail.length - 1] !== 10) return;
      const lines = tail.toString("utf8").split("\n");
      const lastLine = lines[lines.length - 2] ?? "";
      const lastParsed = parseSeekIndex(`${headLine}\n${lastLine === headLine ? "" : `${lastLine}\n`}`);
      if (lastParsed === null) return;
      const prev = lastParsed.entries[0] ?? { seq: 0, offset: 0, maxBefore: -Infinity };
      if (st.size - prev.offset < this.seekEvery || prev.offset > st.size) return;
      // The times of the events between the last entry and this event.
      const span = Buffer.allocUnsafe(st.size - prev.offset);
      if (readSync(fd, span, 0, span.length, prev.offset) !== span.length) return;
      let max = prev.maxBefore;
      for (let s = 0, nl = span.indexOf(10, 0); nl !== -1; s = nl + 1, nl = span.indexOf(10, s)) {
        let t = Infinity;
        try {
          t = seekTime((JSON.parse(span.toString("utf8", s, nl)) as { time?: unknown }).time);
        } catch {
          // an unreadable line counts as a time that is no date
        }
        max = Math.max(max, t);
      }
      writeSync(ifd, seekEntryLine({ seq: event.seq, offset: st.size, maxBefore: max }));
    } finally {
      closeSync(ifd);
    }
  }

  async *readAudit(): AsyncIterable<AuditEvent> {
    const at = { line: 1 };
    for await (const { buf, path } of this.auditBlocks(at)) {
      for (let start = 0, nl = buf.indexOf(10, 0); nl !== -1; start = nl + 1, nl = buf.indexOf(10, start)) {
        yield parseAuditLine(buf.toString("utf8", start, nl), at.line++, path);
      }
    }
  }

  /**
   * audit verify: each line goes to the sink's fast path first, and is parsed only when it declines. A
   * long log is checked by worker threads (audit-parallel.ts) when the sink can take checked lines.
   */
  async feedAudit(sink: AuditLineSink): Promise<void> {
    if (sink.pushChecked && (await this.feedAuditInParallel(sink as ParallelSink))) return;
    const at = { line: 1 };
    for await (const { buf, path } of this.auditBlocks(at)) {
      for (let start = 0, nl = buf.indexOf(10, 0); nl !== -1; start = nl + 1, nl = buf.indexOf(10, start)) {
        if (!sink.pushLine(buf, start, nl)) sink.push(parseAuditLine(buf.toString("utf8", start, nl), at.line, path));
        at.line++;
      }
    }
  }

  /** True when the log was long enough for worker threads, and they fed it all to the sink. */
  private async feedAuditInParallel(sink: ParallelSink): Promise<boolean> {
    const dir = await this.dir("audit", false);
    if (dir === null) return false;
    const path = join(dir, "events.jsonl");
    const fh = await openForRead(path);
    if (fh === null) return false;
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw integrityError(`the audit log ${path} is not a regular file`, "Inspect the store.");
      if (st.size < PARALLEL_AUDIT_BYTES) return false;
      const { feedAuditParallel } = await import("./audit-parallel.js");
      return await feedAuditParallel(fh.fd, path, sink, (text, lineNo) => parseAuditLine(text, lineNo, path));
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  /**
   * The audit log in blocks of whole lines (each ends with a newline), from byte `from`, read in large
   * chunks: much faster than readline for a million lines, and byte-exact. A block is valid until the next
   * one is requested. The caller counts the lines it takes in `at.line`, which names a torn last line.
   * With `snap`, only up to the size the log has when it is opened, and that file's identity and size are
   * written into `snap` (prune reads the log as it is at one moment while appends go on).
   */
  private async *auditBlocks(at: { line: number }, from = 0, snap?: LogSnapshot): AsyncGenerator<{ buf: Buffer; path: string }> {
    const dir = await this.dir("audit", false);
    if (dir === null) return;
    const path = join(dir, "events.jsonl");
    const fh = await openForRead(path);
    if (fh === null) return;
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw integrityError(`the audit log ${path} is not a regular file`, "Inspect the store.");
      if (snap) Object.assign(snap, { ino: st.ino, dev: st.dev, size: st.size });
      const end = snap ? st.size : Number.POSITIVE_INFINITY;
      let buf = Buffer.allocUnsafe(AUDIT_CHUNK);
      let filled = 0; // bytes in buf; those after the last newline are the start of a line still being read
      let pos = from;
      for (;;) {
        if (filled === buf.length) {
          // One line longer than the buffer: make room for the rest of it.
          const bigger = Buffer.allocUnsafe(buf.length * 2);
          buf.copy(bigger, 0, 0, filled);
          buf = bigger;
        }
        const want = Math.min(buf.length - filled, end - pos);
        if (want <= 0) break;
        const { bytesRead } = await fh.read(buf, filled, want, pos).catch((e: unknown) => {
          throw fsError("read the audit log", path, e);
        });
        if (bytesRead === 0) break;
        pos += bytesRead;
        const scanFrom = filled;
        filled += bytesRead;
        const last = buf.lastIndexOf(10, filled - 1);
        if (last < scanFrom) continue; // no line ends in what was just read
        yield { buf: buf.subarray(0, last + 1), path };
        buf.copy(buf, 0, last + 1, filled);
        filled -= last + 1;
      }
      if (filled > 0) {
        throw integrityError(
          `the audit log ${path} ends with an incomplete line ${at.line} (a torn write)`,
          "guard stopped while appending. Keep a copy of the file, remove the incomplete last line, then run guard audit verify.",
        );
      }
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of [...this.waiters]) w();
  }

  // --- prune ------------------------------------------------------------------------------------

  /**
   * Retire history (core/prune.ts decides what) in three steps, so that runs go on while a large store is
   * pruned. 1. Without the lock: read the log as it is now (up to its size at that moment) for the plan,
   * keeping none of its text, list the requests, plan; read the log again to build the archive and a third
   * time to copy the kept events into the new log's body, a temporary file (each read from the same file
   * and to the same size, and checked to find the same bytes: prune-log.ts); the archive and the new
   * log's body are fsynced. 2. Under the audit lock, briefly: check that the log is still that file, read
   * what was appended since (each line chained on the last), refuse when one of those events names a
   * request being retired, append them and the `store.pruned` checkpoint to the new log, fsync, and
   * rename it over the old one: the commit point. 3. After it, without the lock: remove the retired
   * records and their index entries (a crash leaves records the checkpoint names as retired: verify
   * reports them as left over, and the next prune removes them), then rewrite index/created with the new
   * offsets (an old offset fails its own check — the line there is not that request's request.created
   * event — and the reader falls back to a full scan) and remove any other index derived from offsets
   * into the log. A crash before the rename leaves a stray archive and a temporary file that nothing
   * references (a later prune removes that file once it is an hour old: removeStalePruneTemps).
   */
  async prune(opts: PruneOptions): Promise<PruneOutcome> {
    const auditDir = await this.dir("audit", true);
    const logPath = join(auditDir, "events.jsonl");
    // 1. the log as it is now (its text is not kept: the SHA-256 of what was read), the plan, the archive
    // from the log read again, the new log's body copied from it a third time (prune-log.ts)
    const { copyKept, rereadLog } = await import("./prune-log.js");
    const snap: LogSnapshot = { ino: 0, dev: 0, size: 0 };
    const read = createHash("sha256");
    const scan = new PruneScan(opts.cutoffMs);
    const earlier: Array<{ cutoffMs: number; retired: string[] }> = [];
    let head: { seq: number; hash: string } | null = null;
    const at = { line: 1 };
    for await (const { buf, path } of this.auditBlocks(at, 0, snap)) {
      read.update(buf);
      for (let start = 0, nl = buf.indexOf(10, 0); nl !== -1; start = nl + 1, nl = buf.indexOf(10, start)) {
        const e = parseAuditLine(buf.toString("utf8", start, nl), at.line++, path);
        scan.push(e.seq, Date.parse(e.time), typeof e.data.requestId === "string" ? e.data.requestId : null);
        head = { seq: e.seq, hash: e.hash };
        if (e.type === "store.pruned") {
          const c = readCheckpoint(e.seq, e.data);
          if (c) earlier.push({ cutoffMs: Date.parse(c.cutoff), retired: c.retired });
        }
      }
    }
    const { preparePrune, requestFacts, writeArchive } = await import("./archive.js"); // (node:zlib only when pruning)
    const facts = await requestFacts(this.recordBatches(false), requestBindingKey);
    // Left over by an interrupted prune: named retired by a checkpoint, expired before its cutoff, and no event left names it.
    const leftovers: string[] = [];
    for (const c of earlier) {
      for (const id of c.retired) {
        const r = facts.get(id);
        if (scan.named(id) || !REQUEST_ID_RE.test(id)) continue;
        // A request record under a retired id that expires later is not the retired one: verify judges it.
        if (r ? Date.parse(r.expiresAt) < c.cutoffMs : this.hasRecordsOf(id)) leftovers.push(id);
      }
    }
    const archiveDir = opts.archiveDir ?? join(this.root, "archive");
    const planned = read.digest("hex");
    const reread: { kept: KeptPart | null } = { kept: null };
    const prepared = await preparePrune({
      description: this.description,
      opts,
      archiveDir,
      scan,
      events: async (k, put) => {
        reread.kept = rereadLog(logPath, snap, planned, k, put);
      },
      requests: facts,
      records: (ids) => this.retiredRecords(ids),
      leftovers: leftovers.length,
    });
    const { outcome } = prepared;
    if (opts.dryRun) return outcome;
    if (prepared.bytes === null || head === null || outcome.archive === null || reread.kept === null) {
      this.removeRecords(leftovers, facts);
      return outcome;
    }
    outcome.archive.path = await writeArchive(archiveDir, outcome.archive.name, prepared.bytes, this.fileMode);
    const kept = reread.kept;
    const retired = new Set(outcome.retired);
    await removeStalePruneTemps(auditDir, this.clock());
    const tmp = join(auditDir, `.events.jsonl.${randomBytes(8).toString("hex")}.tmp`);
    const unreferenced = "nothing was removed; the archive written is not referenced";
    let fh: fsp.FileHandle | undefined;
    let tail: string[];
    let copied: { created: Map<string, number>; bytes: number };
    try {
      try {
        fh = await fsp.open(tmp, CREATE_FLAGS, this.fileMode);
        await fh.chmod(this.fileMode);
        // The events kept, from the log as the plan read it (refused when it is another file, or changed).
        copied = await copyKept(logPath, snap, kept, fh);
        await fh.sync();
      } catch (e) {
        throw fsError(`write the pruned audit log (${unreferenced})`, tmp, e);
      }
      // 2. under the lock: what was appended meanwhile, the checkpoint, the rename (the commit point)
      const body = fh;
      const from = head;
      const committed = await withFileLock(
        join(auditDir, "lock"),
        async () => {
          const appended = this.appendedSince(logPath, snap, from, retired);
          const checkpoint = chainEvent(appended.head, { type: "store.pruned", actor: opts.actor, data: prepared.checkpoint! }, new Date(this.clock()).toISOString());
          try {
            // writeFile writes from the handle's position: after the body written above.
            await body.writeFile(`${[...appended.lines, canonicalJson(checkpoint)].join("\n")}\n`);
            await body.sync();
            await body.close();
            fh = undefined;
            await fsp.rename(tmp, logPath);
          } catch (e) {
            throw fsError(`write the pruned audit log (${unreferenced})`, logPath, e);
          }
          fsyncDir(auditDir);
          return { checkpoint, lines: appended.lines };
        },
        { mode: this.fileMode, what: `the audit log ${logPath}`, timeoutMs: this.lockTimeoutMs },
      );
      outcome.checkpoint = { seq: committed.checkpoint.seq, hash: committed.checkpoint.hash };
      tail = [...committed.lines, canonicalJson(committed.checkpoint)];
    } catch (e) {
      await fh?.close().catch(() => undefined);
      await fsp.unlink(tmp).catch(() => undefined);
      throw e;
    }
    // 3. after the commit: the records, then the indexes
    this.removeRecords([...outcome.retired, ...leftovers], facts);
    await this.reindexAfterPrune(copied.created, copied.bytes, tail, new Set([...retired, ...leftovers]));
    return outcome;
  }

  /**
   * Under the audit lock, at the commit of a prune: the lines appended to the log since `snap` was read,
   * each checked to chain on the one before it (from `head`, the last line read), and the new head. The
   * log must still be the file that was read and at least as long (otherwise another prune replaced it,
   * or it was cut: 74, run the prune again). An appended event that names a request being retired means
   * that request was used after the plan was made (a refused run or approval of it, say): nothing is
   * retired then either (74, run the prune again), since the plan no longer holds.
   */
  private appendedSince(logPath: string, snap: LogSnapshot, head: { seq: number; hash: string }, retired: ReadonlySet<string>): { lines: string[]; head: { seq: number; hash: string } } {
    const again = "nothing was removed; run guard store prune again";
    let fd: number;
    try {
      fd = openSync(logPath, READ_NOFOLLOW);
    } catch (e) {
      throw fsError(`read the audit log to commit the prune (${again})`, logPath, e);
    }
    try {
      const st = fstatSync(fd);
      if (st.ino !== snap.ino || st.dev !== snap.dev || st.size < snap.size) {
        throw new GuardError(ExitCode.IO, `the audit log ${logPath} was replaced or cut while it was being pruned (another guard store prune?); ${again}`, "run one prune at a time (a daily cron job, say)", [], "io");
      }
      const buf = Buffer.alloc(st.size - snap.size);
      for (let off = 0; off < buf.length; ) {
        const n = readSync(fd, buf, off, buf.length - off, snap.size + off);
        if (n === 0) throw integrityError(`the audit log ${logPath} changed size while being read`, "Another writer bypassed the lock: investigate.");
        off += n;
      }
      if (buf.length > 0 && buf[buf.length - 1] !== 10) {
        throw integrityError(`the audit log ${logPath} ends with an incomplete line (a torn write); refusing to prune it`, "guard stopped while appending. Keep a copy of the file, remove the incomplete last line, run guard audit verify, then retry.");
      }
      const lines: string[] = [];
      let last = head;
      for (let start = 0, nl = buf.indexOf(10, 0); nl !== -1; start = nl + 1, nl = buf.indexOf(10, start)) {
        const text = buf.toString("utf8", start, nl);
        const e = parseAuditLine(text, `a line after byte ${snap.size}`, logPath);
        if (e.seq !== last.seq + 1 || e.prev !== last.hash || auditHash(e) !== e.hash) {
          throw integrityError(`the audit log ${logPath} was extended with event ${e.seq}, which does not chain on event ${last.seq}, while it was being pruned; nothing was removed`, "run guard audit verify and investigate");
        }
        const id = typeof e.data.requestId === "string" ? e.data.requestId : null;
        if (id !== null && retired.has(id)) {
          throw new GuardError(ExitCode.IO, `request ${id}, which this prune retires, was named by a new audit event (${/^[a-z0-9_.-]{1,100}$/.test(e.type) ? e.type : "of an odd type"}, seq ${e.seq}) while it was being pruned; ${again}`, "the next prune keeps that request until a later one retires it with its new events", [], "io");
        }
        lines.push(text);
        last = { seq: e.seq, hash: e.hash };
      }
      return { lines, head: last };
    } finally {
      closeSync(fd);
    }
  }

  /** Whether an approval or consumption record of this request is still stored (left by an interrupted prune). */
  private hasRecordsOf(id: string): boolean {
    return lstatOrNullSync(join(this.root, "consumed", `${id}.json`)) !== null || lstatOrNullSync(join(this.root, "approvals", id)) !== null;
  }

  /** The records a prune archives, one request at a time (RetiredRecord, archive.ts). */
  private async *retiredRecords(ids: readonly string[]): AsyncIterable<RetiredRecord> {
    for (const id of ids) yield { request: this.retiredRequest(id), approvals: await this.listApprovals(id), consumption: await this.getConsumption(id) };
  }

  /**
   * A request a prune is about to archive: read again, whole (its facts were all the plan kept), with a
   * synchronous read as readRecords reads it (a small file; the thread pool costs more than the read).
   */
  private retiredRequest(id: string): SignedRequest {
    const r = readRequestSync(join(this.root, "requests", `${checkId(id)}.json`), id);
    if (r === null) throw new GuardError(ExitCode.IO, `request ${id} was removed from the store while it was being pruned; nothing was removed`, "run one prune at a time, then run guard store prune again", [], "io");
    return r;
  }

  /**
   * Remove retired requests: the consumption, the approvals, the request and its index entries, in that
   * order (a crash part-way leaves an expired request, never a usable one; the next prune finishes).
   * Synchronous: a year's prune removes some eight paths for each of 100,000 requests, and a trip through
   * libuv's thread pool per path (fsp.rm: 55–95 µs here, against 1–7 µs for rmSync) took most of it.
   */
  private removeRecords(ids: string[], facts: ReadonlyMap<string, RequestFacts>): void {
    if (ids.length === 0) return;
    const rm = (p: string): void => {
      try {
        rmSync(p, { recursive: true, force: true });
      } catch (e) {
        throw fsError("remove the retired record", p, e);
      }
    };
    for (const raw of ids) {
      const id = checkId(raw);
      rm(join(this.root, "consumed", `${id}.json`));
      rm(join(this.root, "approvals", id));
      rm(join(this.root, "requests", `${id}.json`));
      const r = facts.get(id);
      if (r) {
        const entry = `${Math.max(0, Date.parse(r.expiresAt) || 0)}-${id}`;
        if (r.bindingKey !== null) rm(join(this.root, "index", "binding", r.bindingKey, entry));
        rm(join(this.root, "index", "open", entry));
      }
      rm(join(this.root, "index", "consumed", id));
      rm(join(this.root, "index", "created", id));
      rm(join(this.root, "index", "break-glass", id));
    }
    for (const d of ["consumed", "approvals", "requests"]) if (lstatOrNullSync(join(this.root, d)) !== null) fsyncDir(join(this.root, d));
  }

  /**
   * After a prune's commit: drop index directories this version does not write (they may hold offsets
   * into the old log), and point each `index/created` entry of a request in the new log at its offset
   * there: `offsets` of the request.created events among the kept lines (the first `keptBytes` of the new
   * log), then those in `tail` (what was appended meanwhile, and the checkpoint). Runs go on meanwhile: an
   * entry for a request created after the commit is already right and is left alone; one of a retired
   * request is removed.
   */
  private async reindexAfterPrune(offsets: Map<string, number>, keptBytes: number, tail: readonly string[], retired: ReadonlySet<string>): Promise<void> {
    const index = join(this.root, "index");
    if (lstatOrNullSync(index) === null) return;
    for (const name of await fsp.readdir(index)) {
      if (!KNOWN_INDEXES.has(name)) await fsp.rm(join(index, name), { recursive: true, force: true }).catch(() => undefined);
    }
    const createdDir = join(index, "created");
    if (lstatOrNullSync(createdDir) === null) return;
    let offset = keptBytes;
    for (const line of tail) {
      if (line.includes('"type":"request.created"')) {
        const e = JSON.parse(line) as AuditEvent;
        if (e.type === "request.created" && typeof e.data.requestId === "string") offsets.set(e.data.requestId, offset);
      }
      offset += Buffer.byteLength(line) + 1;
    }
    for (const name of await fsp.readdir(createdDir)) {
      if (TEMP_FILE_RE.test(name)) continue;
      const at = offsets.get(name);
      if (at === undefined && !retired.has(name)) continue;
      try {
        unlinkSync(join(createdDir, name)); // (synchronous, as removeRecords: one for each request of the year)
      } catch {
        // Best effort, as below.
      }
      // Best effort, as when appending: without the entry a run reads the whole log.
      if (at !== undefined && REQUEST_ID_RE.test(name)) await this.writeExclusive(createdDir, name, `${at}\n`).catch(() => undefined);
    }
  }

  // --- file system helpers ----------------------------------------------------------------------

  /**
   * A directory of the store, checked on every use (never a symlink or an odd file, not unsafe).
   * Missing: created when `forWrite`, else null (an empty store reads as empty).
   */
  private async dir(rel: string, forWrite: true): Promise<string>;
  private async dir(rel: string, forWrite: false): Promise<string | null>;
  private async dir(rel: string, forWrite: boolean): Promise<string | null> {
    if (!forWrite) return this.dirSync(rel);
    if (this.closed) throw new GuardError(ExitCode.INTERNAL, `the store ${this.description} is closed`);
    const path = join(this.root, rel);
    // Synchronous: one lstat on every use (and a mkdir the first time), cheaper than trips through
    // libuv's thread pool.
    let st = lstatOrNullSync(path);
    if (st === null) {
      try {
        mkdirSync(path, { mode: this.dirMode });
        chmodSync(path, this.dirMode); // the umask must not take the group's access away
      } catch (e) {
        if (errCode(e) !== "EEXIST") throw fsError("create", path, e);
      }
      try {
        st = lstatSync(path);
      } catch (e) {
        throw fsError("inspect", path, e);
      }
    }
    this.checkDir(path, st);
    return path;
  }

  /** dir(rel, false), synchronously: the existing directory, checked, or null. */
  private dirSync(rel: string): string | null {
    if (this.closed) throw new GuardError(ExitCode.INTERNAL, `the store ${this.description} is closed`);
    const path = join(this.root, rel);
    const st = lstatOrNullSync(path);
    if (st === null) return null;
    this.checkDir(path, st);
    return path;
  }

  private checkDir(path: string, st: Stats): void {
    if (st.isSymbolicLink()) throw integrityError(`${path} is a symlink; the store was tampered with`, "Only guard writes here: inspect the store and replace the link with a directory.");
    if (!st.isDirectory()) throw integrityError(`${path} is not a directory; the store was tampered with`, "Inspect the store.");
    checkSafe(path, st, this.shared, (what) => configError(`${path} ${what}; refusing to use the store`, SAFE_HINT(this.root)));
  }

  /** Names in a store directory, skipping our own temporary files; anything that is not a plain file is planted. */
  /** The regular files of a directory; anything else is tampering, thrown, or collected in `damaged` when given. */
  private async entries(dir: string, damaged?: DamagedRecord[]): Promise<string[]> {
    const list = await fsp.readdir(dir, { withFileTypes: true }).catch((e: unknown) => {
      throw fsError("list", dir, e);
    });
    return this.regularFiles(dir, list, damaged);
  }

  /** entries(), synchronously (a hot path: audit verify lists every request's approvals). */
  private entriesSync(dir: string, damaged?: DamagedRecord[]): string[] {
    let list: Dirent[];
    try {
      list = readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      throw fsError("list", dir, e);
    }
    return this.regularFiles(dir, list, damaged);
  }

  private regularFiles(dir: string, list: Dirent[], damaged?: DamagedRecord[]): string[] {
    const out: string[] = [];
    for (const d of list) {
      if (TEMP_FILE_RE.test(d.name)) continue;
      if (!d.isFile()) {
        const problem = `${join(dir, d.name)} is ${d.isSymbolicLink() ? "a symlink" : "not a regular file"}; the store was tampered with`;
        if (!damaged) throw integrityError(problem, "Only guard writes here: inspect it and remove it.");
        const m = REQUEST_FILE_RE.exec(d.name);
        damaged.push({ id: m ? d.name.slice(0, -".json".length) : null, where: join(dir, d.name), problem });
        continue;
      }
      out.push(d.name);
    }
    return out;
  }

  /** Write a new file atomically under `name`; false when the name already exists. */
  private async writeExclusive(dir: string, name: string, content: string, what = "write"): Promise<boolean> {
    let created: boolean;
    try {
      created = linkNewFile(dir, name, content, this.fileMode, true);
    } catch (e) {
      throw fsError(what, join(dir, name), e);
    }
    if (created) fsyncDir(dir);
    return created;
  }
}

// --- records ------------------------------------------------------------------------------------

/** A record's bytes as parsed JSON (boxed); 65 for anything that is not. */
function decodeRecord(bytes: Buffer, path: string): { value: unknown } {
  if (bytes.length === 0) throw damaged(path, "is empty");
  // As TextDecoder("utf-8", { fatal: true }) decodes (a leading BOM dropped), without making one per record.
  if (!isUtf8(bytes)) throw damaged(path, "is not valid UTF-8");
  const text = bytes.toString("utf8", bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0);
  if (jsonTooDeep(text)) throw damaged(path, TOO_DEEP);
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    throw damaged(path, "is not valid JSON (truncated or torn write?)");
  }
}

/** The consumption record at `path`, of request `id`, checked; null when there is none. */
function readConsumptionSync(path: string, id: string): Consumption | null {
  const rec = readRecordSync(path);
  if (rec === null) return null;
  assertRecord(consumptionProblem(rec.value, id), path);
  return rec.value as Consumption;
}

/** The request record at `path`, stored as `id`, checked; null when it is gone. */
function readRequestSync(path: string, id: string): SignedRequest | null {
  const rec = readRecordSync(path);
  if (rec === null) return null;
  assertRecord(requestProblem(rec.value, id), path);
  return rec.value as SignedRequest;
}

/**
 * Parsed JSON of a record, null when the file does not exist; 65 for anything damaged or planted. The
 * value is boxed so that a record reading `null` can never be mistaken for a missing one. Synchronous
 * calls: a record is at most 1 MiB, and each asynchronous call would be a trip through libuv's thread
 * pool (the first one starting it).
 */
function readRecordSync(path: string): { value: unknown } | null {
  const read = readRegular(path, { noFollow: true, max: MAX_RECORD_BYTES });
  if ("fail" in read) {
    if (read.fail === "not-regular") throw integrityError(`${path} is not a regular file; the store was tampered with`, "Inspect the store.");
    if (read.fail === "too-large") throw integrityError(`${path} is ${read.size} bytes, far larger than any record`, "Inspect the store.");
    return readFailure(path, read);
  }
  return decodeRecord(read.bytes, path);
}

function damaged(path: string, what: string): GuardError {
  return integrityError(`the store record ${path} ${what}`, "The store is damaged or was tampered with: restore the file from a backup or investigate; guard will not treat it as missing.");
}

/**
 * A small text record (an index hint), null when missing; 65 for anything planted or oversized.
 * Synchronous, as readRecordSync: a few bytes, where each asynchronous call is a trip through libuv's
 * thread pool (and the first one starts it).
 */
function readRecordText(path: string): string | null {
  const read = readRegular(path, { noFollow: true, max: 64 });
  if ("fail" in read) {
    if (read.fail === "not-regular" || read.fail === "too-large") throw integrityError(`${path} is not an index entry; the store was tampered with`, "Inspect the store.");
    return readFailure(path, read);
  }
  return read.bytes.toString("utf8");
}

async function openForRead(path: string): Promise<fsp.FileHandle | null> {
  try {
    return await fsp.open(path, READ_NOFOLLOW);
  } catch (e) {
    return openFailure(path, e);
  }
}

/** Opening a store file for reading failed: null when it is missing; 65 for a symlink; 74 otherwise. */
function openFailure(path: string, e: unknown): null {
  if (errCode(e) === "ENOENT") return null;
  if (errCode(e) === "ELOOP") throw integrityError(`${path} is a symlink; the store was tampered with`, "Only guard writes here: inspect it and remove it.");
  throw fsError("open", path, e);
}

/**
 * openRegular or readRegular failed for a reason that is not the caller's to judge (a file that is not
 * regular, or too large): as openFailure, and 74 when the open file could not be read.
 */
function readFailure(path: string, f: Exclude<ReadFailure, { fail: "not-regular" | "too-large" }>): null {
  if (f.fail === "error" && f.op === "read") throw fsError("read", path, f.error);
  return openFailure(path, f.error);
}

function assertRecord(problem: string | null, path: string): void {
  if (problem !== null) throw damaged(path, `is not a valid record: ${problem}`);
}

/** A malformed record handed to the store is a bug in the caller, not a store problem. */
function assertShape(problem: string | null, what: string): void {
  if (problem !== null) throw new GuardError(ExitCode.INTERNAL, `refusing to store a malformed ${what}: ${problem}`);
}

// --- audit helpers ------------------------------------------------------------------------------

function parseAuditLine(text: string, lineNo: number | string, path: string): AuditEvent {
  const where = lineNo === "last" ? "last line" : typeof lineNo === "string" ? lineNo : `line ${lineNo}`;
  if (jsonTooDeep(text)) throw integrityError(`the audit log ${path} ${where} ${TOO_DEEP}`, "The log was damaged or edited: run guard audit verify on a copy and investigate.");
  let e: unknown;
  try {
    e = JSON.parse(text);
  } catch {
    throw integrityError(`the audit log ${path} ${where} is not valid JSON`, "The log was damaged or edited: run guard audit verify on a copy and investigate.");
  }
  const problem = auditShapeProblem(e);
  if (problem !== null) throw integrityError(`the audit log ${path} ${where} is not an audit event: ${problem}`, "The log was damaged or edited: investigate.");
  return e as AuditEvent;
}

/**
 * The head of the chain, read from the end of the file (never the whole log). A torn or altered last
 * line is refused: extending it would hide the damage behind a valid-looking link.
 */
function readLastEvent(fd: number, size: number, path: string): { seq: number; hash: string } | null {
  if (size === 0) return null;
  for (let want = 4096; ; want *= 4) {
    const start = Math.max(0, size - want);
    const buf = Buffer.alloc(size - start);
    const bytesRead = readSync(fd, buf, 0, buf.length, start);
    if (bytesRead !== buf.length) throw integrityError(`the audit log ${path} changed size while being read`, "Another writer bypassed the lock: investigate.");
    if (buf[buf.length - 1] !== 10) {
      throw integrityError(
        `the audit log ${path} ends with an incomplete line (a torn write); refusing to extend it`,
        "guard stopped while appending. Keep a copy of the file, remove the incomplete last line, run guard audit verify, then retry.",
      );
    }
    const nl = buf.lastIndexOf(10, buf.length - 2);
    if (nl === -1 && start > 0) continue;
    const e = parseAuditLine(buf.toString("utf8", nl + 1, buf.length - 1), "last", path);
    if (auditHash(e) !== e.hash) {
      throw integrityError(`the last event (seq ${e.seq}) of the audit log ${path} was altered; refusing to extend it`, "Run guard audit verify and investigate.");
    }
    return { seq: e.seq, hash: e.hash };
  }
}

/** A prune's new log while it is written (file store prune, step 1). */
const PRUNE_TEMP_RE = /^\.events\.jsonl\.[0-9a-f]{16}\.tmp$/;
/** A temporary new log untouched this long was left by a prune that stopped (a running one writes it within minutes). */
const STALE_PRUNE_TEMP_MS = 60 * 60_000;

/**
 * Remove the temporary new logs of prunes that stopped before their commit (a crash, a kill): each is a
 * copy of most of the log, which nothing references. Only regular files of that exact name, untouched
 * for an hour, so that a prune still under way keeps its own. Best effort.
 */
async function removeStalePruneTemps(auditDir: string, now: number): Promise<void> {
  const names = await fsp.readdir(auditDir).catch(() => [] as string[]);
  for (const name of names) {
    if (!PRUNE_TEMP_RE.test(name)) continue;
    const path = join(auditDir, name);
    const st = lstatOrNullSync(path);
    if (st?.isFile() && now - st.mtimeMs > STALE_PRUNE_TEMP_MS) await fsp.unlink(path).catch(() => undefined);
  }
}

/** Which file the audit log was, and how long, when a prune read it. */
interface LogSnapshot {
  ino: number;
  dev: number;
  size: number;
}

interface LogIdentity {
  ino: string;
  size: number;
  /** sha256 of the first line (its first 4 KiB), hex. */
  firstLine: string;
}

/** What names a log for its seek index: inode and first line, so that a rewritten log is another one. */
async function logIdentity(path: string): Promise<LogIdentity | null> {
  const opened = openRegular(path, { noFollow: true });
  if ("fail" in opened) return null;
  try {
    const first = firstLineDigest(opened.fd);
    return first === null ? null : { ino: String(opened.st.ino), size: opened.st.size, firstLine: first };
  } finally {
    closeSync(opened.fd);
  }
}

/** sha256 of the log's first line, as far as its first 4 KiB; null while the log has no complete line. */
function firstLineDigest(fd: number): string | null {
  const buf = Buffer.alloc(4096);
  const n = readSync(fd, buf, 0, buf.length, 0);
  const nl = buf.subarray(0, n).indexOf(10);
  if (nl === -1 && n < buf.length) return null;
  return sha256Hex(buf.toString("latin1", 0, nl === -1 ? n : nl + 1));
}

function mkdirIndexSync(root: string, mode: number): void {
  const dir = join(root, "index");
  try {
    mkdirSync(dir, { mode });
    chmodSync(dir, mode);
  } catch (e) {
    if (errCode(e) !== "EEXIST") throw e;
  }
  const st = lstatSync(dir);
  if (!st.isDirectory()) throw new Error("index is not a directory");
}

// --- small helpers ------------------------------------------------------------------------------

/** S5: ids are checked before they come anywhere near a path. */
function checkId(id: unknown): string {
  if (typeof id !== "string" || !REQUEST_ID_RE.test(id)) {
    throw usageError(`invalid request id ${JSON.stringify(id)}`, "Request ids look like r- followed by 20 characters a-z and 2-7, as printed by guard request.");
  }
  return id;
}

/** Watch `path` once per wait (a directory that does not exist yet is tried again on the next look). */
function addWatch(into: Map<string, FSWatcher>, path: string, listener: (event: string, name: string | Buffer | null) => void): void {
  if (into.has(path)) return;
  try {
    const w = watch(path, { persistent: false }, listener);
    w.on("error", () => undefined); // the poll still runs
    into.set(path, w);
  } catch {
    // missing directory or no inotify: the poll covers it
  }
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    fsyncSync(fd);
  } catch (e) {
    // Some file systems cannot fsync a directory (EINVAL); the data itself is already synced.
    if (errCode(e) !== "EINVAL") throw fsError("sync", dir, e);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function lstatOrNullSync(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (e) {
    if (errCode(e) === "ENOENT") return null;
    throw fsError("inspect", path, e);
  }
}

const IO_HINTS: Record<string, string> = {
  ENOSPC: "The file system is full: free some space, then retry.",
  EDQUOT: "Your disk quota is exhausted: free some space, then retry.",
  EROFS: "The file system is mounted read-only: point --store / GUARD_STORE at a writable location.",
  EACCES: "You lack permission: check the owner and mode of the store (a shared store needs group guard and mode 2770).",
  EPERM: "You lack permission: check the owner and mode of the store (a shared store needs group guard and mode 2770).",
  ENOENT: "Part of the store disappeared while in use: check that nothing else removes it.",
  EIO: "The disk reported an I/O error: check the device.",
};

function fsError(action: string, path: string, e: unknown): GuardError {
  if (e instanceof GuardError) return e;
  const code = errCode(e);
  return new GuardError(
    ExitCode.IO,
    `cannot ${action} ${path}: ${code ?? (e instanceof Error ? e.message : String(e))}`,
    (code && IO_HINTS[code]) || "Check that the store is reachable and writable.",
    [],
    "io",
  );
}

function errCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | null)?.code;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
