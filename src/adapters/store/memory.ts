/**
 * A store held in memory: a TEST SEAM, never a store a person can choose. No store URL selects it
 * (open.ts knows file paths and postgres:// only) and nothing in src/ imports it; it exists so that
 * command behaviour can be tested in process (test/commands) with a store that keeps the same promises
 * as the file and PostgreSQL stores — it passes the same contract suite (test/store/contract.ts).
 *
 * Faithful where it matters: records are kept as the JSON text a store would hold, so a record planted
 * by a "store writer" (test/store/contract.ts plantRequest) is damaged exactly as on disk (H4), and
 * every read hands out a fresh copy; ids are checked first (S5); consume() has exactly one winner
 * (A12); the audit log is a chain of canonical lines built by core chainEvent, and its last line is
 * checked before it is extended; watchRequest never loses a wake-up. Several Store instances opened on
 * one MemoryPlace share it, the way two processes share a directory or a database.
 */
import { Buffer } from "node:buffer";
import { auditHash, auditShapeProblem, chainEvent } from "../../core/audit.js";
import { canonicalJson, sha256Hex } from "../../core/canonical.js";
import { jsonTooDeep, TOO_DEEP } from "../../core/json-depth.js";
import { BINDING_KEY_RE, requestBindingKey } from "../../core/request.js";
import { ExitCode, GuardError, integrityError, usageError } from "../../core/errors.js";
import type { AuditDraft, AuditEvent, Consumption, SignedApproval, SignedRequest } from "../../core/types.js";
import { approvalProblem, consumptionProblem, requestProblem } from "./records.js";
import { approvalsOrDamaged, REQUEST_ID_PREFIX_RE, REQUEST_ID_RE, type AuditLineSink, type ConsumptionList, type DamagedRecord, type RecordBatch, type RequestList, type RequestWatch, type Store, waitThroughWatch } from "./types.js";

/** Where a memory store keeps its records: share one between instances to have them see each other. */
export class MemoryPlace {
  /** Request records by id, as stored text. */
  readonly requests = new Map<string, string>();
  /** Approvals by request id, then by sha256 of the approval's canonical JSON (content-addressed, as on disk). */
  readonly approvals = new Map<string, Map<string, string>>();
  /** Consumption records by request id, as stored text. */
  readonly consumptions = new Map<string, string>();
  /**
   * The break-glass index, as the file store keeps one (index/break-glass): the ids putRequest stored a
   * break-glass request under. A hint a store writer may add to or take from (tests do).
   */
  readonly breakGlass = new Set<string>();
  /** The audit log: one canonical JSON line per event. */
  readonly audit: string[] = [];
  /** How often each request's approvals or consumption changed: what a watch compares. */
  readonly changes = new Map<string, number>();
  readonly listeners = new Set<(requestId: string) => void>();

  changed(requestId: string): void {
    this.changes.set(requestId, (this.changes.get(requestId) ?? 0) + 1);
    for (const l of [...this.listeners]) l(requestId);
  }
}

export interface MemoryStoreOptions {
  /** The store's clock, epoch ms (a test's fixed clock); default the local clock. */
  now?: () => number;
}

/** A store on `place` (a new, empty one unless given). */
export function openMemoryStore(place: MemoryPlace = new MemoryPlace(), opts: MemoryStoreOptions = {}): Store {
  return new MemoryStore(place, opts.now ?? (() => Date.now()));
}

class MemoryStore implements Store {
  readonly description = "memory: (a test store)";
  private closed = false;
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly place: MemoryPlace,
    private readonly clock: () => number,
  ) {}

  async now(): Promise<number> {
    return this.clock();
  }

  // --- requests ---------------------------------------------------------------------------------

  async putRequest(signed: SignedRequest): Promise<void> {
    const id = checkId(signed?.request?.id);
    assertShape(requestProblem(signed, id), `request ${id}`);
    if (this.place.requests.has(id)) {
      throw integrityError(`request ${id} already exists in ${this.where("requests", id)}; requests are immutable`, "Create a new request instead (guard generates fresh ids).");
    }
    this.place.requests.set(id, JSON.stringify(signed));
    if (signed.request.breakGlass) this.place.breakGlass.add(id);
  }

  async getRequest(id: string): Promise<SignedRequest | null> {
    checkId(id);
    return this.readRequest(id);
  }

  async listRequests(): Promise<RequestList> {
    return this.listed([...this.place.requests.keys()], () => true);
  }

  async *readRecords(): AsyncIterable<RecordBatch> {
    let batch: RecordBatch = { records: [], damaged: [] };
    for (const id of [...this.place.requests.keys()]) {
      let request: SignedRequest | null;
      try {
        request = this.readRequest(id);
      } catch (e) {
        if (!(e instanceof GuardError)) throw e;
        batch.damaged.push({ id, where: this.where("requests", id), problem: e.message });
        continue;
      }
      if (request === null) continue;
      batch.records.push({ request, approvals: approvalsOrDamaged(() => this.approvalsOf(id)) });
      if (batch.records.length === 100) {
        yield batch;
        batch = { records: [], damaged: [] };
      }
    }
    if (batch.records.length > 0 || batch.damaged.length > 0) yield batch;
  }

  async findRequestsByBinding(key: string, now: number): Promise<RequestList> {
    if (!BINDING_KEY_RE.test(key)) throw usageError(`invalid binding key ${JSON.stringify(key)}`);
    // As an index would: a record that cannot be read has no binding to be found under.
    const { requests } = this.listed([...this.place.requests.keys()], (r) => Date.parse(r.request.expiresAt) > now && requestBindingKey(r.request) === key);
    return { requests, damaged: [] };
  }

  async listOpenRequests(now: number): Promise<RequestList> {
    return this.listed([...this.place.requests.keys()], (r) => Date.parse(r.request.expiresAt) > now && !this.place.consumptions.has(r.request.id));
  }

  async listBreakGlassRequests(): Promise<RequestList> {
    // Through the index, as the file store reads it: an entry naming another request, or one no longer
    // stored, is passed over; a record that cannot be read is listed apart (it may be break-glass).
    return this.listed([...this.place.breakGlass].filter((id) => REQUEST_ID_RE.test(id)), (r) => Boolean(r.request.breakGlass));
  }

  async listRequestIds(prefix: string): Promise<string[]> {
    if (!REQUEST_ID_PREFIX_RE.test(prefix)) throw usageError(`invalid request id prefix ${JSON.stringify(prefix)}`);
    return [...this.place.requests.keys()].filter((id) => id.startsWith(prefix)).sort();
  }

  /** The readable requests of `ids` that `keep` keeps, newest first; the unreadable ones apart (H4). */
  private listed(ids: string[], keep: (r: SignedRequest) => boolean): RequestList {
    const requests: SignedRequest[] = [];
    const damaged: DamagedRecord[] = [];
    for (const id of ids) {
      try {
        const r = this.readRequest(id);
        if (r !== null && keep(r)) requests.push(r);
      } catch (e) {
        if (!(e instanceof GuardError)) throw e;
        damaged.push({ id, where: this.where("requests", id), problem: e.message });
      }
    }
    return {
      requests: requests.sort((a, b) => cmp(b.request.createdAt, a.request.createdAt) || cmp(a.request.id, b.request.id)),
      damaged: damaged.sort((a, b) => cmp(a.where, b.where)),
    };
  }

  private readRequest(id: string): SignedRequest | null {
    const text = this.place.requests.get(id);
    if (text === undefined) return null;
    const where = this.where("requests", id);
    const v = parseRecord(text, where);
    assertRecord(requestProblem(v, id), where);
    return v as SignedRequest;
  }

  // --- approvals --------------------------------------------------------------------------------

  async putApproval(requestId: string, approval: SignedApproval): Promise<void> {
    checkId(requestId);
    assertShape(approvalProblem(approval, requestId), `approval for ${requestId}`);
    const name = sha256Hex(canonicalJson(approval));
    let mine = this.place.approvals.get(requestId);
    if (!mine) this.place.approvals.set(requestId, (mine = new Map()));
    const held = mine.get(name);
    if (held !== undefined) {
      // Content-addressed: the same name must hold the same approval, or the record was edited.
      this.readApproval(requestId, name, held);
      return;
    }
    mine.set(name, JSON.stringify(approval));
    this.place.changed(requestId);
  }

  async listApprovals(requestId: string): Promise<SignedApproval[]> {
    checkId(requestId);
    return this.approvalsOf(requestId);
  }

  private approvalsOf(requestId: string): SignedApproval[] {
    const out: Array<{ a: SignedApproval; name: string }> = [];
    for (const [name, text] of this.place.approvals.get(requestId) ?? []) out.push({ a: this.readApproval(requestId, name, text), name });
    return out.sort((x, y) => cmp(x.a.statement.createdAt, y.a.statement.createdAt) || cmp(x.name, y.name)).map((x) => x.a);
  }

  private readApproval(requestId: string, name: string, text: string): SignedApproval {
    const where = `memory:approvals/${requestId}/${name}`;
    const v = parseRecord(text, where);
    assertRecord(approvalProblem(v, requestId), where);
    if (sha256Hex(canonicalJson(v)) !== name) throw integrityError(`${where} was edited: its content no longer matches its name`, "Inspect the store; remove the record if it is not genuine.");
    return v as SignedApproval;
  }

  // --- consumption ------------------------------------------------------------------------------

  async consume(record: Consumption): Promise<boolean> {
    const id = checkId(record?.requestId);
    assertShape(consumptionProblem(record, id), `consumption of ${id}`);
    // The single-use gate (A12): the check and the write happen with nothing in between, so of any
    // number of callers on this place exactly one wins.
    if (this.place.consumptions.has(id)) return false;
    this.place.consumptions.set(id, JSON.stringify(record));
    this.place.changed(id);
    return true;
  }

  async getConsumption(requestId: string): Promise<Consumption | null> {
    checkId(requestId);
    const text = this.place.consumptions.get(requestId);
    if (text === undefined) return null;
    const where = this.where("consumed", requestId);
    const v = parseRecord(text, where);
    assertRecord(consumptionProblem(v, requestId), where);
    return v as Consumption;
  }

  async listConsumptions(): Promise<ConsumptionList> {
    const out: ConsumptionList = { consumptions: [], damaged: [] };
    for (const id of [...this.place.consumptions.keys()].sort()) {
      try {
        const c = await this.getConsumption(id);
        if (c !== null) out.consumptions.push(c);
      } catch (e) {
        if (!(e instanceof GuardError)) throw e;
        out.damaged.push({ id, where: `memory:consumed/${id}`, problem: e.message });
      }
    }
    return out;
  }

  // --- waiting ----------------------------------------------------------------------------------

  waitForChange(requestId: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return waitThroughWatch(this, requestId, timeoutMs, signal);
  }

  /** The watch remembers the request's change count; a wait ends at once when it has moved since. */
  async watchRequest(requestId: string): Promise<RequestWatch> {
    checkId(requestId);
    const count = (): number => this.place.changes.get(requestId) ?? 0;
    let seen = count();
    let closed = false;
    return {
      close: () => {
        closed = true;
      },
      wait: (timeoutMs: number, signal?: AbortSignal): Promise<void> =>
        new Promise<void>((done) => {
          if (closed || this.closed || signal?.aborted || !(timeoutMs > 0) || count() !== seen) {
            seen = count();
            done();
            return;
          }
          const listener = (id: string): void => {
            if (id === requestId) finish();
          };
          const finish = (): void => {
            clearTimeout(timer);
            this.place.listeners.delete(listener);
            signal?.removeEventListener("abort", finish);
            this.waiters.delete(finish);
            seen = count();
            done();
          };
          const timer = setTimeout(finish, timeoutMs);
          this.place.listeners.add(listener);
          signal?.addEventListener("abort", finish, { once: true });
          this.waiters.add(finish);
        }),
    };
  }

  // --- audit ------------------------------------------------------------------------------------

  async appendAudit(draft: AuditDraft): Promise<AuditEvent> {
    // Synchronous from the head's read to the push: nothing else runs in between (serialised).
    const log = this.place.audit;
    let last: { seq: number; hash: string } | null = null;
    if (log.length > 0) {
      const e = parseAuditLine(log[log.length - 1]!, log.length);
      if (auditHash(e) !== e.hash) throw integrityError(`the last event (seq ${e.seq}) of the audit log was altered; refusing to extend it`, "Run guard audit verify and investigate.");
      last = { seq: e.seq, hash: e.hash };
    }
    const event = chainEvent(last, draft, new Date(this.clock()).toISOString());
    log.push(canonicalJson(event));
    return event;
  }

  async *readAudit(): AsyncIterable<AuditEvent> {
    const lines = [...this.place.audit];
    for (let i = 0; i < lines.length; i++) yield parseAuditLine(lines[i]!, i + 1);
  }

  async feedAudit(sink: AuditLineSink): Promise<void> {
    const lines = [...this.place.audit];
    for (let i = 0; i < lines.length; i++) {
      const buf = Buffer.from(lines[i]!, "utf8");
      if (!sink.pushLine(buf, 0, buf.length)) sink.push(parseAuditLine(lines[i]!, i + 1));
    }
  }

  async *consumedEvents(requestId: string): AsyncIterable<AuditEvent> {
    checkId(requestId);
    const lines = [...this.place.audit];
    for (let i = 0; i < lines.length; i++) {
      let e: AuditEvent;
      try {
        e = parseAuditLine(lines[i]!, i + 1);
      } catch {
        continue; // not a genuine event: `audit verify` reports it; no run is stopped by it
      }
      if (e.type === "request.consumed") yield e;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const finish of [...this.waiters]) finish();
  }

  private where(kind: string, id: string): string {
    return `memory:${kind}/${id}`;
  }
}

// --- helpers ------------------------------------------------------------------------------------

function checkId(id: unknown): string {
  if (typeof id !== "string" || !REQUEST_ID_RE.test(id)) {
    throw usageError(`invalid request id ${JSON.stringify(id)}`, "Request ids look like r- followed by 20 characters a-z and 2-7, as printed by guard request.");
  }
  return id;
}

function parseRecord(text: string, where: string): unknown {
  const damaged = (what: string) => integrityError(`the store record ${where} ${what}`, "The store is damaged or was tampered with; guard will not treat it as missing.");
  if (text.length === 0) throw damaged("is empty");
  if (jsonTooDeep(text)) throw damaged(TOO_DEEP);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw damaged("is not valid JSON");
  }
}

function assertRecord(problem: string | null, where: string): void {
  if (problem !== null) throw integrityError(`the store record ${where} is not a valid record: ${problem}`, "The store is damaged or was tampered with; guard will not treat it as missing.");
}

/** A malformed record handed to the store is a bug in the caller, not a store problem. */
function assertShape(problem: string | null, what: string): void {
  if (problem !== null) throw new GuardError(ExitCode.INTERNAL, `refusing to store a malformed ${what}: ${problem}`);
}

function parseAuditLine(text: string, lineNo: number): AuditEvent {
  const hint = "The log was damaged or edited: run guard audit verify and investigate.";
  if (jsonTooDeep(text)) throw integrityError(`the audit log line ${lineNo} ${TOO_DEEP}`, hint);
  let e: unknown;
  try {
    e = JSON.parse(text);
  } catch {
    throw integrityError(`the audit log line ${lineNo} is not valid JSON`, hint);
  }
  const problem = auditShapeProblem(e);
  if (problem !== null) throw integrityError(`the audit log line ${lineNo} is not an audit event: ${problem}`, hint);
  return e as AuditEvent;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
