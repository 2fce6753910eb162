/**
 * `guard store prune`: which finished history to retire, decided without I/O.
 *
 * Records: a request is retired only once its SIGNED expiry is older than the cutoff, whatever its state
 * (consumed, denied, approved and never used, never approved). So a record someone re-plants after a
 * prune is an expired request, which no run accepts; ids are random, never reused. An unexpired request
 * is never retired.
 *
 * Events: the retired part of the audit log is always a prefix of the chain (events 1…through, or from
 * the log's current start), so what remains is still one chain, and the checkpoint (`store.pruned`) names
 * the last retired event: `audit verify` accepts a log that starts after event 1 only when a checkpoint
 * names exactly the event before its first. The prefix ends before the first event at or after the
 * cutoff, and before the first event of any request that is kept; a candidate request is retired only
 * when every event naming it lies in the prefix. The two rules feed each other (a candidate kept because
 * of a late event pulls the prefix back), so the plan is computed to a fixed point. Each archive then
 * holds a request's records together with all its events: the remaining log and the remaining records
 * cross-check on their own, and an archive with the events it holds.
 */
import { createHash } from "node:crypto";
import { canonicalJson } from "./canonical.js";
import { MAX_TTL_SECONDS, shapeProblem, validateApprovalShape, validateConsumptionShape, validateSignedRequestShape } from "./request.js";
import type { Consumption, SignedApproval, SignedRequest } from "./types.js";

/** The least age of a cutoff: the longest a request can live, so a prune never races a live request. */
export const PRUNE_FLOOR_SECONDS = MAX_TTL_SECONDS;

/** What the planner needs of one event: its seq, its time (epoch ms; NaN when unreadable) and the request it names, if any. */
export interface PruneEvent {
  seq: number;
  timeMs: number;
  requestId: string | null;
}

/** What the planner needs of one stored request: its id and its signed expiry (epoch ms). */
export interface PruneRecord {
  id: string;
  expiresMs: number;
}

export interface PrunePlan {
  /** The last event retired (0: none). Events with seq <= through are archived and removed. */
  through: number;
  /** The requests whose records are retired, sorted. */
  retired: string[];
  /** Requests expired before the cutoff but kept, because an event naming them comes later (retired by a later prune). */
  deferred: number;
}

/**
 * The prefix of the log and the requests to retire (see the file comment). `events` is the whole
 * remaining log in sequence order; `records` every stored request.
 */
export function planPrune(events: readonly PruneEvent[], records: readonly PruneRecord[], cutoffMs: number): PrunePlan {
  const scan = new PruneScan(cutoffMs);
  for (const e of events) scan.push(e.seq, e.timeMs, e.requestId);
  return scan.plan(records);
}

/**
 * What the planner needs of the log, gathered one event at a time as a store reads it (planPrune is this
 * over an array): the first event the time rule stops at, each named request's first and last event,
 * and the events' sequence numbers. Its memory grows with the requests the log names and 8 bytes an
 * event, not with the events' text.
 */
export class PruneScan {
  private readonly seqs: number[] = [];
  /** The seq of the first event at or after the cutoff (or whose time is unreadable), or null. */
  private stop: number | null = null;
  private readonly spans = new Map<string, { first: number; last: number }>();

  constructor(private readonly cutoffMs: number) {}

  push(seq: number, timeMs: number, requestId: string | null): void {
    this.seqs.push(seq);
    if (this.stop === null && !(timeMs < this.cutoffMs)) this.stop = seq;
    if (requestId === null) return;
    const s = this.spans.get(requestId);
    if (s === undefined) this.spans.set(requestId, { first: seq, last: seq });
    else s.last = seq;
  }

  /** True once an event at or after the cutoff (or of an unreadable time) was pushed: no later one is retired. */
  get stopped(): boolean {
    return this.stop !== null;
  }

  /** The requests some event names. */
  named(id: string): boolean {
    return this.spans.has(id);
  }

  /** How many events, from the first, are at or before `seq`: the lines a plan through `seq` archives. */
  countThrough(seq: number): number {
    if (seq === 0) return 0;
    const after = this.seqs.findIndex((x) => x > seq);
    return after === -1 ? this.seqs.length : after;
  }

  plan(records: readonly PruneRecord[]): PrunePlan {
    const { seqs, spans, cutoffMs } = this;
    if (seqs.length === 0) return { through: 0, retired: [], deferred: 0 };
    const firstSeq = seqs[0]!;
    // The time rule: events stop being retired at the first one at or after the cutoff (or whose time is unreadable).
    let through = this.stop === null ? seqs[seqs.length - 1]! : this.stop - 1;
    const candidate = (r: PruneRecord): boolean => Number.isFinite(r.expiresMs) && r.expiresMs < cutoffMs && spans.has(r.id);
    // A request that is not a candidate holds the prefix before its first event; so does a candidate whose
    // last event comes after the prefix. Each pass can only move `through` down: it ends.
    for (;;) {
      let next = through;
      for (const r of records) {
        const s = spans.get(r.id);
        if (s === undefined) continue; // no event names it: it cannot hold anything back (and `audit verify` reports it)
        if (!candidate(r) || s.last > next) next = Math.min(next, s.first - 1);
      }
      if (next === through) break;
      through = next;
    }
    if (through < firstSeq) return { through: 0, retired: [], deferred: records.filter(candidate).length };
    const retired: string[] = [];
    let deferred = 0;
    for (const r of records) {
      if (!candidate(r)) continue;
      if (spans.get(r.id)!.last <= through) retired.push(r.id);
      else deferred++;
    }
    return { through, retired: retired.sort(), deferred };
  }
}

/** The data of a `store.pruned` event, as `audit verify` reads it back. */
export interface Checkpoint {
  /** The seq of the `store.pruned` event itself. */
  seq: number;
  /** The cutoff: requests that expired before it were retired (ISO 8601). */
  cutoff: string;
  /** The last retired event: the remaining log's first event links to it. */
  through: { seq: number; hash: string };
  /** The ids of the retired requests, sorted. */
  retired: string[];
  /** The archive written: its file name, SHA-256 (hex, of the compressed file) and size. */
  archive: { name: string; sha256: string; bytes: number };
}

const HEX64 = /^[0-9a-f]{64}$/;

/** A `store.pruned` event's data as a Checkpoint, or null when it is not one (then it names nothing). */
export function readCheckpoint(seq: number, data: Record<string, unknown>): Checkpoint | null {
  const through = data.through as { seq?: unknown; hash?: unknown } | null | undefined;
  const archive = data.archive as { name?: unknown; sha256?: unknown; bytes?: unknown } | null | undefined;
  if (typeof through !== "object" || through === null || typeof through.seq !== "number" || !Number.isSafeInteger(through.seq) || typeof through.hash !== "string" || !HEX64.test(through.hash)) return null;
  if (typeof archive !== "object" || archive === null || typeof archive.name !== "string" || typeof archive.sha256 !== "string" || !HEX64.test(archive.sha256) || typeof archive.bytes !== "number") return null;
  if (typeof data.cutoff !== "string" || !Array.isArray(data.retired) || !data.retired.every((r) => typeof r === "string")) return null;
  return {
    seq,
    cutoff: data.cutoff,
    through: { seq: through.seq, hash: through.hash },
    retired: data.retired as string[],
    archive: { name: archive.name, sha256: archive.sha256, bytes: archive.bytes },
  };
}

/** The first line of an archive: what it holds and the digests of its two parts. */
export interface ArchiveManifest {
  format: typeof ARCHIVE_FORMAT;
  /** The store it came from (description, no secrets) and when the cutoff was. */
  store: string;
  cutoff: string;
  events: { count: number; firstSeq: number; lastSeq: number; firstPrev: string; lastHash: string; sha256: string };
  records: { requests: number; approvals: number; consumptions: number; sha256: string };
  retired: string[];
}

export const ARCHIVE_FORMAT = "access-guard-archive/1";

/**
 * SHA-256 of lines as an archive part holds them: each followed by a newline. Hashed line by line, never
 * joined: a year of events is hundreds of megabytes of text, and a joined copy (and its UTF-8 bytes)
 * would be most of a prune's memory.
 */
export function partDigest(lines: readonly string[]): string {
  const h = createHash("sha256");
  for (const l of lines) h.update(l).update("\n");
  return h.digest("hex");
}

/**
 * Why an archive's record line (parsed) is not one `guard store prune` writes, or null: a request with
 * its approvals and consumption, each of the strict shape the commands hold records to and all of that
 * request. (A prune archives only records of a store that verified, so anything else was planted with a
 * forged checkpoint.) The reason names the field, escaped for the terminal.
 */
export function archivedRecordProblem(x: unknown): string | null {
  if (typeof x !== "object" || x === null || Array.isArray(x)) return "not an object";
  const keys = Object.keys(x).sort().join(",");
  if (keys !== "approvals,consumption,request") return "not {request, approvals, consumption}";
  const r = x as { request: unknown; approvals: unknown; consumption: unknown };
  const request = shapeProblem(() => validateSignedRequestShape(r.request));
  if (request !== null) return request;
  const id = (r.request as SignedRequest).request.id;
  if (!Array.isArray(r.approvals)) return "approvals is not a list";
  for (const a of r.approvals as unknown[]) {
    const bad = shapeProblem(() => validateApprovalShape(a)) ?? ((a as SignedApproval).statement.requestId !== id ? "an approval of another request" : null);
    if (bad !== null) return bad;
  }
  if (r.consumption === null) return null;
  return shapeProblem(() => validateConsumptionShape(r.consumption)) ?? ((r.consumption as Consumption).requestId !== id ? "the consumption of another request" : null);
}

/** One archived request with its approvals and consumption, as a line of the archive. */
export function recordLine(r: { request: unknown; approvals: unknown[]; consumption: unknown }): string {
  return canonicalJson(r);
}
