import type { Buffer } from "node:buffer";
import type { CanonicalLine } from "../../core/audit-line.js";
import type { AuditFilter } from "../../core/audit-types.js";
import type { AuditActor, AuditDraft, AuditEvent, Consumption, SignedApproval, SignedRequest } from "../../core/types.js";
import { ExitCode, GuardError } from "../../core/errors.js";

/**
 * Where requests, approvals, consumptions and the audit log live. Implementations: the embedded
 * directory store (file.ts) and PostgreSQL (postgres.ts). Every method either does what it says or
 * throws a GuardError: 74 (unavailable / not writable), 65 (a record is corrupt or tampered), 64 (bad id).
 * A store never interprets signatures: the commands verify everything they read against the policy.
 */
export interface Store {
  /** Human description for messages, e.g. "file:/home/a/.local/state/access-guard" (no secrets). */
  readonly description: string;

  /** The store's clock, epoch ms (PostgreSQL: the server's now(); file store: the local clock). */
  now(): Promise<number>;

  /** Create a request. Refuses (65) if the id exists: requests are immutable. */
  putRequest(signed: SignedRequest): Promise<void>;
  /** null when there is no such request; 65 when the record is unreadable. */
  getRequest(id: string): Promise<SignedRequest | null>;
  /**
   * Every readable request (newest first), and apart from them every record that could not be read
   * (junk, unreadable, malformed, too deep): one damaged record affects only itself (SECURITY H4). Reading
   * a damaged request by its id (getRequest) still fails, 65.
   */
  listRequests(): Promise<RequestList>;
  /**
   * `audit verify`: every stored request with its approvals, in batches (hundreds of requests each,
   * in no particular order), so that a long history is never held at once nor read a round trip per
   * record. A request record that cannot be read is listed in its batch's `damaged` (as listRequests
   * lists it); a request whose approvals cannot be read carries, instead of them, what listApprovals
   * would have thrown (65): one damaged record affects only itself (SECURITY H4).
   */
  readRecords(): AsyncIterable<RecordBatch>;

  /**
   * The unexpired requests (by `now`, epoch ms) stored under this binding key (core/request.ts
   * bindingKey), newest first, with any that could not be read listed apart: "the request for this
   * exact run" without reading history. The index is a hint anyone who can write the store can write:
   * callers still compare the full binding and verify every record. Expired requests may be left out.
   */
  findRequestsByBinding(key: string, now: number): Promise<RequestList>;
  /**
   * The requests neither expired by `now` nor consumed, newest first (what `guard requests` shows by
   * default), without touching finished history. May include some that are finished in other ways
   * (denied); callers judge each one.
   */
  listOpenRequests(now: number): Promise<RequestList>;
  /**
   * The stored requests whose record says break-glass (`request.breakGlass`), newest first, with any
   * record that could not be read but may be one listed apart: what `guard requests --review` and the
   * "one unreviewed break-glass run at a time" check read, without touching other history. Found through
   * an index (file store: index/break-glass; PostgreSQL: a partial index, schema version 6) that anyone
   * who can write the store can write: an entry naming another request is passed over, and callers still
   * verify every record and judge its review against the policy. A removed entry hides a request from
   * this listing, as removing the request would (`audit verify` reports it).
   */
  listBreakGlassRequests(): Promise<RequestList>;

  /**
   * The ids of the stored requests that start with `prefix` ("r-" and a few base32 characters), sorted,
   * without reading any record: how `guard show r-3k5q` finds the request a person means.
   */
  listRequestIds(prefix: string): Promise<string[]>;

  /** Add a signed approval or denial to a request. Identical re-submissions are idempotent. */
  putApproval(requestId: string, approval: SignedApproval): Promise<void>;
  listApprovals(requestId: string): Promise<SignedApproval[]>;

  /**
   * Atomically mark a request consumed. Exactly one caller ever gets `true` for an id; every other
   * caller, concurrent or later, gets `false`.
   */
  consume(record: Consumption): Promise<boolean>;
  getConsumption(requestId: string): Promise<Consumption | null>;
  /**
   * Every consumption record, including any whose request the store no longer holds (for `audit verify`),
   * and those that cannot be read (damaged: reported with the others, they do not stop the listing).
   */
  listConsumptions(): Promise<ConsumptionList>;

  /**
   * Resolve when something about the request may have changed (an approval stored), or after
   * `timeoutMs`, or when `signal` aborts. Spurious wake-ups are allowed; callers re-read. Only changes
   * after the call are noticed: a caller that reads and then waits uses watchRequest instead.
   */
  waitForChange(requestId: string, timeoutMs: number, signal?: AbortSignal): Promise<void>;
  /**
   * Start noticing changes to a request (an approval or a consumption stored) from now on. The pattern
   * that never loses a wake-up: watch, then read, then `wait`, re-read, `wait`… — every change made
   * after the watch began and not yet seen by a re-read ends the next `wait` at once.
   */
  watchRequest(requestId: string): Promise<RequestWatch>;

  /** Append one event to the audit chain, durably, serialised across processes. */
  appendAudit(draft: AuditDraft): Promise<AuditEvent>;
  /** Read the audit log in sequence order. 65 if a line is unreadable. */
  readAudit(): AsyncIterable<AuditEvent>;
  /**
   * For `guard audit log` with filters: the events in sequence order, at least every one that matches
   * (the caller applies the exact filter; readAudit() would be a valid answer), read through indexes
   * instead of the whole log where the store has one (README "Audit log"). An event inside the part
   * read that cannot be decoded is an error (65), as in readAudit; the part an index lets the store skip
   * is not read at all (`audit verify` reads everything). Optional: without it, callers scan readAudit().
   */
  readAuditFiltered?(filter: AuditFilter): AsyncIterable<AuditEvent>;
  /**
   * The same log, for `audit verify`: each stored line is offered to `sink.pushLine` first, and parsed and
   * `push`ed only when the sink declines it. Same order and errors as readAudit. Optional: without it the
   * verifier reads readAudit().
   */
  feedAudit?(sink: AuditLineSink): Promise<void>;
  /**
   * At least the `request.consumed` events that name this request, in sequence order (the caller
   * filters; readAudit() would be a valid answer). Unlike readAudit, a row that cannot be read is
   * skipped, not an error: it is not a genuine event (`audit verify` reports it), and no run may be
   * stopped by someone else's damaged row. Optional: without it, callers scan readAudit().
   */
  consumedEvents?(requestId: string): AsyncIterable<AuditEvent>;

  /**
   * `guard store prune`: retire the finished history before `cutoffMs` (core/prune.ts decides what),
   * archiving it and appending the `store.pruned` checkpoint, atomically with respect to every other
   * writer. The caller has verified the store first. Optional: a store without it cannot be pruned.
   */
  prune?(opts: PruneOptions): Promise<PruneOutcome>;

  close(): Promise<void>;
}

export interface PruneOptions {
  cutoffMs: number;
  /** As the person wrote it (e.g. "90d"), for the checkpoint. */
  olderThan: string;
  actor: AuditActor;
  /** Where the archive goes; null: the store's default (file store: <store>/archive). */
  archiveDir: string | null;
  /** Plan and report only: nothing is written. */
  dryRun: boolean;
}

export interface PruneOutcome {
  dryRun: boolean;
  cutoff: string;
  /** The last retired event, or null when there was nothing to retire. */
  through: { seq: number; hash: string } | null;
  events: number;
  requests: number;
  approvals: number;
  consumptions: number;
  /** Requests expired before the cutoff but kept this time (an event naming them comes after the retired part). */
  deferred: number;
  /** Records an earlier, interrupted prune had already archived and now removed. */
  leftovers: number;
  /** The retired request ids. */
  retired: string[];
  archive: { path: string; name: string; sha256: string; bytes: number } | null;
  /** The `store.pruned` event appended, or null (dry run, nothing to retire). */
  checkpoint: { seq: number; hash: string } | null;
}

/** A watch on one request (Store.watchRequest). Close it when done. */
export interface RequestWatch {
  /**
   * Resolve when the request may have changed since the watch began or since the previous wait
   * resolved, or after `timeoutMs`, or when `signal` aborts. Spurious wake-ups are allowed.
   */
  wait(timeoutMs: number, signal?: AbortSignal): Promise<void>;
  close(): void;
}

/** Store.waitForChange for a store whose watchRequest does the work: one watch, one wait, closed. */
export async function waitThroughWatch(store: Pick<Store, "watchRequest">, requestId: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const watch = await store.watchRequest(requestId);
  try {
    await watch.wait(timeoutMs, signal);
  } finally {
    watch.close();
  }
}

/** A record a listing skipped because it cannot be read: shown as damaged, reported by `audit verify`. */
export interface DamagedRecord {
  /** The request id the record is stored under, when its name is one (raw store text: escape it). */
  id: string | null;
  /** Where: a file path or a PostgreSQL row (raw store text: escape it). */
  where: string;
  /** What is wrong with it, as the error reading it said. */
  problem: string;
}

export interface RequestList {
  requests: SignedRequest[];
  damaged: DamagedRecord[];
}

export interface ConsumptionList {
  consumptions: Consumption[];
  damaged: DamagedRecord[];
}

/** A request and its approvals, as readRecords yields them. */
export interface StoredRecord {
  request: SignedRequest;
  /** listApprovals' answer, or the message of the integrity error (65) it would have thrown. */
  approvals: SignedApproval[] | { damaged: string };
}

/**
 * readRecords' approvals of one request: what `read` returns, or, when it throws an integrity error (65),
 * that error's message, so that one damaged record affects only itself (SECURITY H4). Any other error
 * is thrown on.
 */
export function approvalsOrDamaged(read: () => SignedApproval[]): StoredRecord["approvals"] {
  try {
    return read();
  } catch (e) {
    if (!(e instanceof GuardError) || e.exitCode !== ExitCode.INTEGRITY) throw e;
    return { damaged: e.message };
  }
}

/** One batch of readRecords. */
export interface RecordBatch {
  records: StoredRecord[];
  damaged: DamagedRecord[];
}

/** What feedAudit feeds: AuditVerifier (core/audit.ts). */
export interface AuditLineSink {
  /**
   * One stored line, as the store holds it: buf[start, end) is its UTF-8, without a newline. True when
   * taken; false when the store must parse the line and push() the event instead.
   */
  pushLine(buf: Buffer, start: number, end: number): boolean;
  push(e: AuditEvent): void;
  /**
   * pushLine's second half, for a line already accepted by checkCanonicalLine (core/audit-line.ts),
   * perhaps in another thread: same answer. A store that checks lines in parallel uses it when present.
   */
  pushChecked?(buf: Buffer, line: CanonicalLine): boolean;
  /** seq and hash of the last event that extended the chain: after pushLine() returned true, that line's. */
  readonly headSeq: number;
  readonly headHash: string;
}

export type { AuditFilter } from "../../core/audit-types.js";

/** Request ids: guard-generated, lowercase base32, so they are safe as file names and in URLs. */
export { REQUEST_ID_PATTERN as REQUEST_ID_RE, REQUEST_ID_PREFIX_PATTERN as REQUEST_ID_PREFIX_RE } from "../../core/ids.js";
