import type { Buffer } from "node:buffer";
import { hash as oneShotHash } from "node:crypto";
import { checkCanonicalLine, newCanonicalLine, TRACKED_TYPES, type CanonicalLine } from "./audit-line.js";
import { canonicalJson, sha256Hex } from "./canonical.js";
import { escapeForTerminal } from "./escape.js";
import { readCheckpoint, type Checkpoint } from "./prune.js";
import type { AuditDraft, AuditEvent } from "./types.js";

/**
 * The audit chain: every event carries the hash of the one before it, so an edit, a deletion or a
 * reordering anywhere breaks the chain at that point. A chain cannot see its own tail being cut off:
 * that needs an anchor (a `{seq, hash}` kept somewhere else), checked by `AuditVerifier` (S7).
 *
 * Event types the CLI appends (field names are part of the contract; data may gain fields):
 *
 *   run.refused        {code, message, exitCode, requestId?, argv, environment, reasons, evidence}
 *   request.refused    {code, message, exitCode, argv, …}       (core/refusal.ts: codes, size and rate bounds)
 *   approval.refused   {code, message, exitCode, requestId, decision}
 *   run.intent         {runId, requestId, argv}            written BEFORE an approval is consumed
 *   request.consumed   {requestId, runId}                  after the store's consume() returned true
 *   run.started        {runId, requestId|null, argv, program: {path, sha256, via}, environment, cwd, breakGlass,
 *                       envWithheld (approved runs: variables present but not passed, by name)}
 *                      (program.via: the link path executed, or null when the real path was executed)
 *                                                          written BEFORE the command executes
 *   run.finished       {runId, exitCode, signal, durationMs}
 *   request.created    {requestId, requestDigest, environment, argv, requester}
 *   approval.recorded  {requestId, decision, principal, fingerprint, comment}
 *   breakglass.used    {requestId, runId, reason}
 *   policy.error       {message}
 *   store.unlocked     {lock, holder, ageSeconds, why}
 *   store.pruned       {olderThan, cutoff, through: {seq, hash}, events, requests, approvals, consumptions,
 *                       retired: [requestId…], archive: {name, sha256, bytes}}
 *                                                          the checkpoint of `guard store prune` (core/prune.ts):
 *                                                          events 1…through were archived and removed
 *   store.refused      {code, exitCode, command: "prune", olderThan, problems}   a prune refused: the store does not verify
 *
 * A log whose first event is not event 1 verifies only when a `store.pruned` event in it names exactly
 * the event before that first one (its seq, and the hash the first event links to); else its head was
 * removed.
 *
 * A `run.started` with no later `run.finished` for the same runId is an interrupted run (guard was
 * killed, X2): reported, not a chain failure. The requestIds of `request.consumed`, and what
 * `request.created` and `approval.recorded` recorded, are collected so the caller can cross-check them
 * against the store's records (S3, crossCheckConsumptions and crossCheckRecords).
 */

export const GENESIS = "0".repeat(64);


/**
 * SHA-256 hex over canonicalJson({seq, time, type, actor, data, prev}). An append hashes through
 * sha256Hex, which keeps node:crypto off the start-up path; the verifier below hashes with node:crypto,
 * so every `guard audit verify` also checks the hashes appends made.
 */
export function auditHash(e: Omit<AuditEvent, "hash">): string {
  return sha256Hex(hashInput(e));
}

/**
 * The same string as canonicalJson({seq,time,type,actor,data,prev}). The verifier runs this a million
 * times, so the common case takes a fast path: when every object under actor and data already has its
 * keys in canonical (sorted) order — as chainEvent writes them — native JSON.stringify of a reused
 * object with the six top-level keys in sorted order produces exactly the canonical text. Anything
 * else (unsorted keys, integer-like keys that JS reorders, non-plain objects) takes canonicalJson.
 */
function hashInput(e: Omit<AuditEvent, "hash">): string {
  if (typeof e.seq === "number" && Number.isFinite(e.seq) && typeof e.prev === "string" && typeof e.time === "string" && typeof e.type === "string" && inCanonicalOrder(e.actor) && inCanonicalOrder(e.data)) {
    const s = SCRATCH;
    s.actor = e.actor;
    s.data = e.data;
    s.prev = e.prev;
    s.seq = e.seq;
    s.time = e.time;
    s.type = e.type;
    const text = JSON.stringify(s);
    s.actor = s.data = null;
    return text;
  }
  return canonicalJson({ seq: e.seq, time: e.time, type: e.type, actor: e.actor, data: e.data, prev: e.prev });
}

/** Keys in sorted order; reused because JSON.stringify is synchronous. */
const SCRATCH: { actor: unknown; data: unknown; prev: string; seq: number; time: string; type: string } = { actor: null, data: null, prev: "", seq: 0, time: "", type: "" };

/** True when JSON.stringify(v) === canonicalJson(v): plain JSON values whose object keys are already sorted. */
function inCanonicalOrder(v: unknown): boolean {
  switch (typeof v) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(v);
    case "object": {
      if (v === null) return true;
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) if (!inCanonicalOrder(v[i])) return false;
        return true;
      }
      const proto = Object.getPrototypeOf(v) as unknown;
      if (proto !== Object.prototype && proto !== null) return false; // Date, Map, toJSON…
      let prev: string | null = null;
      for (const k in v) {
        if (prev !== null && !(prev < k)) return false;
        if (!inCanonicalOrder((v as Record<string, unknown>)[k])) return false;
        prev = k;
      }
      return true;
    }
    default:
      return false; // undefined, function, bigint, symbol: canonicalJson decides
  }
}

/**
 * The next event of the chain. The draft is passed through JSON first so that the returned event is
 * exactly what a reader will parse back (a Date or an undefined member would otherwise hash
 * differently once stored). `time` is the store's clock, ISO 8601. A draft with no JSON form (a
 * BigInt, a cycle) throws a TypeError: that is a bug in the caller.
 */
export function chainEvent(prev: { seq: number; hash: string } | null, draft: AuditDraft, time: string): AuditEvent {
  // JSON.stringify gives JSON's meaning to Dates and undefined; canonicalJson then sorts the keys,
  // so the stored event takes the verifier's fast path.
  const json = JSON.parse(JSON.stringify({ type: draft.type, actor: draft.actor, data: draft.data })) as unknown;
  const plain = JSON.parse(canonicalJson(json)) as AuditDraft;
  const body: Omit<AuditEvent, "hash"> = {
    seq: prev ? prev.seq + 1 : 1,
    time,
    type: plain.type,
    actor: plain.actor,
    data: plain.data,
    prev: prev ? prev.hash : GENESIS,
  };
  return { ...body, hash: auditHash(body) };
}

/** Why an audit event does not have the shape of one, or null when it does. */
export function auditShapeProblem(e: unknown): string | null {
  if (typeof e !== "object" || e === null || Array.isArray(e)) return "not an object";
  const o = e as Record<string, unknown>;
  if (typeof o.seq !== "number" || !Number.isSafeInteger(o.seq) || o.seq < 1) return "seq is not a positive integer";
  if (typeof o.time !== "string") return "time is not a string";
  if (typeof o.type !== "string") return "type is not a string";
  if (typeof o.actor !== "object" || o.actor === null || Array.isArray(o.actor)) return "actor is not an object";
  if (typeof o.data !== "object" || o.data === null || Array.isArray(o.data)) return "data is not an object";
  // Length only: a 64-character value that is not lowercase hex can never equal a computed hash, so
  // the chain checks report it anyway (and a regex here costs a tenth of verification time).
  if (typeof o.prev !== "string" || o.prev.length !== 64) return "prev is not a SHA-256 hex digest";
  if (typeof o.hash !== "string" || o.hash.length !== 64) return "hash is not a SHA-256 hex digest";
  // The hash covers the six other members only: anything beside them would ride along unverified
  // (`guard audit log --json` prints the whole event).
  for (const k in o) if (!EVENT_MEMBERS.has(k)) return "it has a member other than seq, time, type, actor, data, prev and hash";
  return null;
}

const EVENT_MEMBERS = new Set(["seq", "time", "type", "actor", "data", "prev", "hash"]);

export interface AuditReport {
  /** True when the chain is intact and, with an anchor, reaches it. Interrupted runs do not make it false. */
  ok: boolean;
  events: number;
  /** The last event in sequence (what an external anchor should record). */
  head: { seq: number; hash: string } | null;
  /** The lowest-numbered problem. */
  firstBad?: { seq: number; problem: string };
  /** Set when the log ends before the anchored event: its tail was cut off (or the log deleted). */
  behindAnchor?: { anchorSeq: number; headSeq: number };
  /** `run.started` events with no `run.finished` for the same runId (guard killed mid-run, X2). */
  interrupted: Array<{ runId: string; seq: number; argv?: unknown }>;
  /** requestIds of `request.consumed` events. */
  consumedRequests: Set<string>;
  /** requestIds of `run.intent` events (an intent with no `request.consumed` is a crash, not a forgery). */
  intendedRequests: Set<string>;
  /** requestIds of `run.started` events (an approved run that reached exec). */
  startedRequests: Set<string>;
  /** `request.created` events: requestId → the requestDigest it recorded (null when it recorded none). */
  createdRequests: Map<string, string | null>;
  /** `approval.recorded` events, as approvalKey(requestId, principal, decision, fingerprint). */
  recordedApprovals: Set<string>;
  /** Every problem, in the order found ("event 7 was altered", "sequence gap: …", "behind anchor: …"). */
  problems: string[];
  /** The `store.pruned` checkpoints read, in order. */
  checkpoints: Checkpoint[];
  /** When the log starts after event 1: its first event's seq and the hash it links to. */
  start: { seq: number; prev: string } | null;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Problems kept in full; a wrecked log of a million lines should not produce a million strings. */
const MAX_PROBLEMS = 100;

interface Problem {
  seq: number;
  text: string;
}

/** The line pushLine reads into (reused: the verifier is synchronous). */
const LINE = newCanonicalLine();

/**
 * Streaming verifier: push every event in file order, then finish(). Memory stays proportional to the
 * runs still open and the consumed request ids, not to the length of the log.
 *
 * A store that holds canonical lines offers each to pushLine() first: the common line — canonical and
 * extending the chain — is checked from its text without being parsed (see audit-line.ts). Any other
 * line is refused by pushLine() untouched, and the store parses it and push()es the event, so every
 * problem is found and worded by the one full path.
 */
export class AuditVerifier {
  private readonly anchor: { seq: number; hash: string } | null;
  private count = 0;
  /** The event with the highest seq seen so far, which the next one must extend. */
  private seq = 0;
  /** Its hash; made from headWords only when asked for, after lines taken by pushChecked. */
  private hashText: string | null = GENESIS;
  /**
   * The head's hash as 16 little-endian words of its 64 characters, valid when it is lowercase hex
   * (the genesis hash, or one checked by pushChecked): prev's bytes are compared with them instead of
   * being inspected, which proves them hex (and free of quotes) only then. Words, not bytes: a quarter
   * of the operations, for a comparison and a copy on every line.
   */
  private readonly headWords = new Int32Array(16).fill(0x30303030); // GENESIS: "0" is 0x30
  private hashIsHex = true;
  /** A DataView of the buffer pushChecked last read (most lines come from the same one). */
  private view: DataView | null = null;
  private viewOf: Buffer | null = null;
  private anchorSeen = false;
  private problemList: Problem[] = [];
  private problemsDropped = 0;
  /** The last gap found, so that the missing event turning up later reads as a reordering. */
  private lastGap: { problem: Problem; from: number; to: number } | null = null;
  /** Open runs; argv is kept as its JSON text when the line was not parsed, and parsed by finish(). */
  private readonly open = new Map<string, { seq: number; argv?: unknown; argvJson?: string }>();
  private readonly consumed = new Set<string>();
  private readonly intended = new Set<string>();
  private readonly started = new Set<string>();
  private readonly created = new Map<string, string | null>();
  private readonly approvals = new Set<string>();
  private readonly checkpoints: Checkpoint[] = [];
  /** The first event, when it is not event 1 (a pruned log): checked against the checkpoints by finish(). */
  private start: { seq: number; prev: string } | null = null;

  constructor(opts?: { anchor?: { seq: number; hash: string } }) {
    this.anchor = opts?.anchor ?? null;
  }

  /** How many events have been taken so far (a progress line reads it while the log is read). */
  get eventsSeen(): number {
    return this.count;
  }

  /** The last event that extended the chain (after pushLine() returned true: that line's). */
  get headSeq(): number {
    return this.seq;
  }
  get headHash(): string {
    return this.hash;
  }

  private get hash(): string {
    if (this.hashText === null) {
      let s = "";
      for (const w of this.headWords) s += String.fromCharCode(w & 0xff, (w >>> 8) & 0xff, (w >>> 16) & 0xff, w >>> 24);
      this.hashText = s;
    }
    return this.hashText;
  }

  private set hash(h: string) {
    this.hashText = h;
    this.hashIsHex = HEX64.test(h);
    if (!this.hashIsHex) return;
    for (let j = 0; j < 16; j++) {
      const i = 4 * j;
      this.headWords[j] = h.charCodeAt(i) | (h.charCodeAt(i + 1) << 8) | (h.charCodeAt(i + 2) << 16) | (h.charCodeAt(i + 3) << 24);
    }
  }

  /**
   * Take one stored line: buf[start, end) holds its UTF-8, without the newline. True when the line was
   * taken: it is canonical JSON, extends the chain (next seq, links to the head) and its hash matches,
   * which is everything push() would check. False when it is anything else, with nothing recorded: the
   * caller must parse the line and push() the event.
   */
  pushLine(buf: Buffer, start: number, end: number): boolean {
    return this.hashIsHex && checkCanonicalLine(buf, start, end, LINE) && this.pushChecked(buf, LINE);
  }

  /**
   * pushLine's second half, for a line that checkCanonicalLine(buf, …, line) accepted (perhaps in
   * another thread; buf must still hold the line): true when it extends the chain — next seq, prev is
   * the head's hash — and is recorded; false, with nothing recorded, when the caller must parse the
   * line and push() the event.
   */
  pushChecked(buf: Buffer, l: CanonicalLine): boolean {
    if (l.seq !== this.seq + 1 || !this.hashIsHex) return false;
    if (buf !== this.viewOf) {
      this.viewOf = buf;
      this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    const v = this.view!;
    const head = this.headWords;
    const prev = l.prevAt;
    for (let j = 0; j < 16; j++) if (v.getInt32(prev + 4 * j, true) !== head[j]) return false;
    // Exactly what push() records for an intact event that extends the chain. (The hash is kept as
    // words; its text is made when asked for: l.hash is "" when the line was checked elsewhere.)
    this.count++;
    this.seq = l.seq;
    const at = l.memberAt + 8;
    for (let j = 0; j < 16; j++) head[j] = v.getInt32(at + 4 * j, true);
    this.hashText = l.hash === "" ? null : l.hash;
    this.checkAnchor(l.seq);
    switch (TRACKED_TYPES[l.tracked - 1]) {
      case "run.started":
        if (l.runIdStart >= 0) {
          const run: { seq: number; argvJson?: string } = { seq: l.seq };
          if (l.argvStart >= 0) run.argvJson = buf.toString("utf8", l.argvStart, l.argvEnd);
          this.open.set(stringAt(buf, l.runIdStart, l.runIdEnd, l.runIdEscaped), run);
        }
        if (l.requestIdStart >= 0) this.started.add(stringAt(buf, l.requestIdStart, l.requestIdEnd, l.requestIdEscaped));
        break;
      case "run.finished":
        if (l.runIdStart >= 0) this.open.delete(stringAt(buf, l.runIdStart, l.runIdEnd, l.runIdEscaped));
        break;
      case "request.consumed":
        if (l.requestIdStart >= 0) this.consumed.add(stringAt(buf, l.requestIdStart, l.requestIdEnd, l.requestIdEscaped));
        break;
      case "run.intent":
        if (l.requestIdStart >= 0) this.intended.add(stringAt(buf, l.requestIdStart, l.requestIdEnd, l.requestIdEscaped));
        break;
      case "request.created":
      case "approval.recorded":
        // Rare (one a request, one an approval): their data is parsed whole.
        this.trackRecord(TRACKED_TYPES[l.tracked - 1]!, JSON.parse(buf.toString("utf8", l.dataStart, l.memberAt - 1)) as Record<string, unknown>);
        break;
      case "store.pruned":
        this.trackCheckpoint(l.seq, JSON.parse(buf.toString("utf8", l.dataStart, l.memberAt - 1)) as Record<string, unknown>);
        break;
    }
    return true;
  }

  push(e: AuditEvent): void {
    this.count++;
    const shape = auditShapeProblem(e);
    if (shape !== null) {
      this.problem(this.seq + 1, `event at position ${this.count} is malformed: ${shape}`);
      return;
    }

    if (oneShotHash("sha256", hashInput(e), "hex") !== e.hash) {
      this.problem(e.seq, `event ${e.seq} was altered: its hash does not match its content`);
    }

    const expected = this.seq + 1;
    if (this.count === 1 && e.seq > 1) {
      // A pruned log starts later: finish() requires a checkpoint naming the event before this one.
      this.start = { seq: e.seq, prev: e.prev };
      this.advance(e);
    } else if (e.seq === expected) {
      if (e.prev !== this.hash && this.seq === 0) {
        this.problem(1, "event 1 was altered: it does not start the chain (prev is not the genesis hash)");
      } else if (e.prev !== this.hash) {
        // The chain breaks between the two: the earlier event was replaced (with a recomputed hash) or
        // this one's link was edited. Point at the earlier one, the first that may be bad.
        const at = this.seq;
        this.problem(at, `event ${at} was altered or replaced: event ${e.seq} links to a different hash`);
      }
      this.advance(e);
    } else if (e.seq > expected) {
      const p = this.problem(expected, `sequence gap: event ${e.seq} follows event ${this.seq}; ${describeRange(expected, e.seq - 1)} missing`);
      this.lastGap = p ? { problem: p, from: expected, to: e.seq - 1 } : null;
      this.advance(e);
    } else {
      const gap = this.lastGap;
      if (gap && e.seq >= gap.from && e.seq <= gap.to) {
        // The "missing" event turned up later: the lines were reordered, not deleted.
        gap.problem.seq = gap.from;
        gap.problem.text = `out of order: event ${e.seq} appears after event ${gap.to + 1}`;
        this.lastGap = null;
      } else {
        this.problem(e.seq, `out of order: event ${e.seq} appears after event ${this.seq} (duplicated or reordered)`);
      }
    }

    this.checkAnchor(e.seq, e.hash);
    this.track(e);
  }

  /** (Without `hash`: the head's, for an event that just became the head.) */
  private checkAnchor(seq: number, hash?: string): void {
    if (this.anchor !== null && seq === this.anchor.seq) {
      this.anchorSeen = true;
      if ((hash ?? this.hash) !== this.anchor.hash) {
        this.problem(seq, `event ${seq} does not match the anchor: the log was rewritten up to there`);
      }
    }
  }

  finish(): AuditReport {
    const head = this.seq > 0 ? { seq: this.seq, hash: this.hash } : null;
    const start = this.start;
    if (start !== null && !this.checkpoints.some((c) => c.through.seq === start.seq - 1 && c.through.hash === start.prev)) {
      this.problem(
        1,
        `sequence gap: the log starts at event ${start.seq}; ${describeRange(1, start.seq - 1)} missing (head removed), and no store.pruned checkpoint accounts for ${start.seq === 2 ? "it" : "them"}`,
      );
    }
    let behindAnchor: AuditReport["behindAnchor"];
    if (this.anchor !== null && start !== null && this.anchor.seq < start.seq) {
      if (!(this.anchor.seq === start.seq - 1 && this.anchor.hash === start.prev)) {
        this.problem(
          this.anchor.seq,
          `the anchor (event ${this.anchor.seq}) is in the part of the log that \`guard store prune\` retired (events up to ${start.seq - 1}): pass the archive with --archive FILE to check it, or anchor to the current head`,
        );
      }
    } else if (this.anchor !== null) {
      if (this.seq < this.anchor.seq) {
        behindAnchor = { anchorSeq: this.anchor.seq, headSeq: this.seq };
        this.problem(
          this.seq + 1,
          `behind anchor: truncated — the log ends at event ${this.seq} but the anchor records event ${this.anchor.seq}`,
        );
      } else if (!this.anchorSeen) {
        this.problem(this.anchor.seq, `anchored event ${this.anchor.seq} is missing from the log`);
      }
    }
    const problems = this.problemList.map((p) => p.text);
    if (this.problemsDropped > 0) problems.push(`… and ${this.problemsDropped} more problems`);
    let firstBad: AuditReport["firstBad"];
    for (const p of this.problemList) {
      if (firstBad === undefined || p.seq < firstBad.seq) firstBad = { seq: p.seq, problem: p.text };
    }
    const interrupted = [...this.open.entries()]
      .map(([runId, r]) => {
        const argv = r.argvJson !== undefined ? (JSON.parse(r.argvJson) as unknown) : r.argv;
        return argv === undefined ? { runId, seq: r.seq } : { runId, seq: r.seq, argv };
      })
      .sort((a, b) => a.seq - b.seq);
    return {
      ok: this.problemList.length === 0,
      events: this.count,
      head,
      ...(firstBad ? { firstBad } : {}),
      ...(behindAnchor ? { behindAnchor } : {}),
      interrupted,
      consumedRequests: this.consumed,
      intendedRequests: this.intended,
      startedRequests: this.started,
      createdRequests: this.created,
      recordedApprovals: this.approvals,
      problems,
      checkpoints: this.checkpoints,
      start,
    };
  }

  private advance(e: AuditEvent): void {
    this.seq = e.seq;
    this.hash = e.hash;
  }

  private problem(seq: number, text: string): Problem | null {
    if (this.problemList.length >= MAX_PROBLEMS) {
      this.problemsDropped++;
      return null;
    }
    const p = { seq, text };
    this.problemList.push(p);
    return p;
  }

  private track(e: AuditEvent): void {
    switch (e.type) {
      case "run.started": {
        const runId = e.data.runId;
        if (typeof runId === "string") this.open.set(runId, { seq: e.seq, argv: e.data.argv });
        if (typeof e.data.requestId === "string") this.started.add(e.data.requestId);
        break;
      }
      case "run.finished": {
        const runId = e.data.runId;
        if (typeof runId === "string") this.open.delete(runId);
        break;
      }
      case "request.consumed": {
        const id = e.data.requestId;
        if (typeof id === "string") this.consumed.add(id);
        break;
      }
      case "run.intent": {
        const id = e.data.requestId;
        if (typeof id === "string") this.intended.add(id);
        break;
      }
      case "request.created":
      case "approval.recorded":
        this.trackRecord(e.type, e.data);
        break;
      case "store.pruned":
        this.trackCheckpoint(e.seq, e.data);
        break;
    }
  }

  private trackCheckpoint(seq: number, data: Record<string, unknown>): void {
    const c = readCheckpoint(seq, data);
    if (c === null) this.problem(seq, `event ${seq} is a store.pruned checkpoint without the fields one has (through, retired, archive)`);
    else this.checkpoints.push(c);
  }

  /** The events that say a store record was made: what crossCheckRecords compares the store with. */
  private trackRecord(type: string, data: Record<string, unknown>): void {
    const id = data.requestId;
    if (typeof id !== "string") return;
    if (type === "request.created") {
      this.created.set(id, typeof data.requestDigest === "string" ? data.requestDigest : null);
    } else {
      const { principal, decision, fingerprint } = data;
      if (typeof principal === "string" && typeof decision === "string" && typeof fingerprint === "string") this.approvals.add(approvalKey(id, principal, decision, fingerprint));
    }
  }
}

/** How an approval is matched between the store and its `approval.recorded` event. */
export function approvalKey(requestId: string, principal: string, decision: string, fingerprint: string): string {
  return JSON.stringify([requestId, principal, decision, fingerprint]);
}

/** A string member's content (between its quotes), decoded; always a string of its own, not a view. */
function stringAt(buf: Buffer, start: number, end: number, escaped: boolean): string {
  return escaped ? (JSON.parse(buf.toString("utf8", start - 1, end + 1)) as string) : buf.toString("utf8", start, end);
}

function describeRange(from: number, to: number): string {
  return from === to ? `event ${from} is` : `events ${from}–${to} are`;
}

/**
 * Consumption records and the audit log must tell the same story. A consumption with no
 * `request.consumed` event means the log lost events (or the record was planted); a `request.consumed`
 * whose record is gone means someone deleted it to replay the approval (S3). Both are integrity
 * failures. `auditIntended` (requestIds of `run.intent`) only sharpens the message for a crash between
 * consuming and auditing.
 */
export function crossCheckConsumptions(auditConsumed: Set<string>, storeConsumed: Set<string>, auditIntended?: Set<string>): string[] {
  const problems: string[] = [];
  for (const id of [...storeConsumed].sort()) {
    // A run.intent (written before consuming) explains the gap: guard stopped between consuming and
    // auditing (X2). That is reported by consumedNeverStarted(), not as tampering.
    if (auditConsumed.has(id) || auditIntended?.has(id)) continue;
    problems.push(`request ${escapeForTerminal(id)} is consumed in the store but the audit log has no request.consumed event for it (the log lost events or the record was planted)`);
  }
  for (const id of [...auditConsumed].sort()) {
    if (!storeConsumed.has(id)) {
      problems.push(
        `the audit log records request ${escapeForTerminal(id)} as consumed but the store has no consumption record (deleted to replay the approval?)`,
      );
    }
  }
  return problems;
}

/** The store's records, as `audit verify` lists them for crossCheckRecords. */
export interface StoreRecords {
  requests: ReadonlyArray<{ id: string; digest: string }>;
  approvals: ReadonlyArray<{ requestId: string; principal: string; decision: string; fingerprint: string }>;
  consumptions: ReadonlyArray<{ requestId: string; requestDigest: string }>;
}

/**
 * Every record in the store must have the event that recorded it, with the same facts — a request its
 * `request.created` (same id and digest), an approval or denial its `approval.recorded` (same request,
 * principal, decision and key), a consumption the digest its request was created with — because guard
 * writes the event first (write-ahead): a record without its event was planted by someone who can write
 * the store, or the log lost events. The reverse is reported too: an event whose record is gone (a
 * deleted denial lets a denied request run; a deleted request hides what was asked). A guard killed
 * between writing an event and storing its record leaves the same trace, and the message says so.
 * (Consumptions with no `request.consumed` event are crossCheckConsumptions' business.) Every name from
 * a record is escaped; problems are sorted so the report is stable.
 */
export function crossCheckRecords(report: Pick<AuditReport, "createdRequests" | "recordedApprovals">, records: StoreRecords, esc: (s: string) => string): string[] {
  const problems: string[] = [];
  const inStore = new Set<string>();
  for (const r of [...records.requests].sort((a, b) => cmp(a.id, b.id))) {
    inStore.add(r.id);
    if (!report.createdRequests.has(r.id)) {
      problems.push(`request ${esc(r.id)} is in the store but the audit log has no request.created event for it (the record was planted, or the log lost events)`);
    } else if (report.createdRequests.get(r.id) !== r.digest) {
      problems.push(`request ${esc(r.id)} in the store is not the request the audit log recorded: its digest differs from its request.created event (the record was replaced)`);
    }
  }
  for (const id of [...report.createdRequests.keys()].sort(cmp)) {
    if (!inStore.has(id)) problems.push(`the audit log records request ${esc(id)} as created but the store has no record of it (deleted, or guard stopped between recording and storing it)`);
  }
  const approvalsInStore = new Set<string>();
  for (const a of records.approvals) {
    const key = approvalKey(a.requestId, a.principal, a.decision, a.fingerprint);
    approvalsInStore.add(key);
    if (!report.recordedApprovals.has(key)) {
      problems.push(`request ${esc(a.requestId)}: the store holds ${decisionNoun(a.decision)} by ${esc(a.principal)} (${esc(a.fingerprint)}) that the audit log never recorded (the record was planted, or the log lost events)`);
    }
  }
  for (const key of [...report.recordedApprovals].sort(cmp)) {
    if (approvalsInStore.has(key)) continue;
    const [requestId, principal, decision, fingerprint] = JSON.parse(key) as [string, string, string, string];
    // Only for requests the store still holds: a request that is gone altogether is reported above.
    if (!inStore.has(requestId)) continue;
    problems.push(
      `the audit log records ${decisionNoun(decision)} of request ${esc(requestId)} by ${esc(principal)} (${esc(fingerprint)}) but the store has no such record (deleted — a removed denial lets a denied request run — or guard stopped between recording and storing it)`,
    );
  }
  for (const c of [...records.consumptions].sort((a, b) => cmp(a.requestId, b.requestId))) {
    const created = report.createdRequests.get(c.requestId);
    if (created !== undefined && created !== c.requestDigest) {
      problems.push(`the consumption record of request ${esc(c.requestId)} names a different request digest than its request.created event (the record was planted or altered)`);
    }
  }
  return problems;
}

const decisionNoun = (d: string): string => (d === "approve" ? "an approval" : d === "deny" ? "a denial" : d === "acknowledge" ? "an acknowledgement" : "a decision");

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * X2: approvals that were used up by a run that never started — guard stopped (killed, disk full)
 * between consuming the approval and recording `run.started`. Not tampering, but worth saying: the
 * approval is gone and the command did not run.
 */
export function consumedNeverStarted(storeConsumed: Set<string>, report: Pick<AuditReport, "consumedRequests" | "intendedRequests" | "startedRequests">): string[] {
  const notes: string[] = [];
  for (const id of [...storeConsumed].sort()) {
    if (report.startedRequests.has(id)) continue;
    if (report.consumedRequests.has(id) || report.intendedRequests.has(id)) {
      notes.push(`request ${escapeForTerminal(id)}: its approval was consumed but the run never started (guard stopped between consuming and starting the command); ask for a new approval`);
    }
  }
  return notes;
}
