/**
 * Refusals as audit events: the closed set of reason codes, the size bound of an event's data, and the
 * rate limit that keeps a loop of refusals from flooding the log. Pure: the clock and the limiter's
 * state are parameters.
 *
 * Every refusal of a command that decides something about a run or a request (run, request, approve,
 * deny) appends one event — `run.refused`, `request.refused` or `approval.refused` — with the actor,
 * the request id when known, a `code` from REFUSAL_CODES and the `message` the person saw. Reads (show,
 * requests, check, audit) are not audited.
 *
 * Bounds (documented in README "Audit log"):
 *   - a string in the data is cut at REFUSAL_LIMITS.maxString characters, an array at maxArray items,
 *     with a `…[cut N]` marker; if the data still exceeds maxBytes of JSON, its largest members are
 *     replaced by a marker until it fits;
 *   - per actor, event type and code, at most `perWindow` events are appended per `windowMs`; the ones
 *     beyond are counted, and the next event appended for the same key carries the count as `suppressed`.
 */

/** Why a request or a run was refused: stable codes for scripts and reviews. */
export const REFUSAL_CODES = [
  "policy-deny", // the policy in force denies this run
  "replay", // the request was already consumed: an approval runs once
  "request-denied", // an approver denied the request
  "self-approval", // the requester tried to approve their own request
  "not-eligible", // the approver is not in a group the requirements name
  "not-principal", // the key is not a principal of the policy
  "not-requester", // someone else's request
  "cwd-mismatch", // run from another working directory than the approved one
  "argv-mismatch", // a command given with --request differs from the approved argv
  "binding-mismatch", // the run differs from what was approved (program, environment, variables…)
  "confirm-mismatch", // the typed or --confirm'ed environment is not the target
  "confirm-missing", // typed confirmation needed, no terminal and no --confirm
  "stdin-not-allowed", // piped or redirected stdin on a run that needs approval
  "policy-changed", // approving a request made under another policy
  "not-pending", // approving or denying a consumed, expired or denied request
  "break-glass-refused", // break-glass not available to this person, here or for this target
  "unapprovable", // nobody but the requester could approve it
  "reason-missing", // a rule needs a reason and none was given
  "not-found", // no such request
  "tampered", // a record or the log does not verify (exit 65)
  "denied", // any other refusal (exit 77)
  "usage", // any other usage refusal about a request (exit 64)
] as const;
export type RefusalCode = (typeof REFUSAL_CODES)[number];

/** The code of a refusal that did not name one, by its exit code. */
export function defaultRefusalCode(exitCode: number): RefusalCode {
  return exitCode === 65 ? "tampered" : exitCode === 64 ? "usage" : "denied";
}

export const REFUSAL_LIMITS = {
  maxString: 1024,
  maxArray: 64,
  maxBytes: 8192,
  perWindow: 10,
  windowMs: 60_000,
} as const;

export interface DataLimits {
  maxString: number;
  maxArray: number;
  maxBytes: number;
}

/** A copy of `data` within the limits (see above); nesting deeper than 8 levels is replaced by a marker. */
export function boundEventData(data: Record<string, unknown>, limits: DataLimits = REFUSAL_LIMITS): Record<string, unknown> {
  const out = boundValue(data, limits, 0) as Record<string, unknown>;
  // The code, the exit code and the request id are guard's own short values: kept whole, always.
  const keep = new Set(["code", "exitCode", "requestId"]);
  for (const k of keep) if (typeof data[k] === "string" && (data[k] as string).length <= 64) out[k] = data[k];
  let size = JSON.stringify(out).length;
  if (size <= limits.maxBytes) return out;
  // Still too large: replace the largest other members by a marker.
  const members = Object.keys(out)
    .filter((k) => !keep.has(k))
    .map((k) => ({ k, n: JSON.stringify(out[k]).length }))
    .sort((a, b) => b.n - a.n);
  for (const { k, n } of members) {
    if (size <= limits.maxBytes) break;
    const marker = `…[cut ${n} bytes]`;
    out[k] = marker;
    size -= n - JSON.stringify(marker).length;
  }
  return out;
}

const MAX_DEPTH = 8;

function boundValue(v: unknown, limits: DataLimits, depth: number): unknown {
  if (typeof v === "string") return v.length > limits.maxString ? `${v.slice(0, limits.maxString)}…[cut ${v.length - limits.maxString}]` : v;
  if (v === null || typeof v !== "object") return v;
  if (depth >= MAX_DEPTH) return "…[cut: nested too deep]";
  if (Array.isArray(v)) {
    const items = v.slice(0, limits.maxArray).map((x) => boundValue(x, limits, depth + 1));
    if (v.length > limits.maxArray) items.push(`…[cut ${v.length - limits.maxArray} items]`);
    return items;
  }
  const out = Object.create(null) as Record<string, unknown>; // (a "__proto__" member stays a member)
  const keys = Object.keys(v);
  for (const k of keys.slice(0, limits.maxArray)) out[k.length > 128 ? `${k.slice(0, 128)}…` : k] = boundValue((v as Record<string, unknown>)[k], limits, depth + 1);
  if (keys.length > limits.maxArray) out["…"] = `[cut ${keys.length - limits.maxArray} members]`;
  return out;
}

/** The limiter's memory of one key (actor, event type, code). */
export interface LimitEntry {
  windowStart: number;
  /** Events appended in this window. */
  count: number;
  /** Refusals not appended since the last one that was. */
  suppressed: number;
}

export interface Admission {
  /** Append this refusal's event. */
  record: boolean;
  /** When recording: how many refusals of this key were not appended before it (carried as `suppressed`). */
  carried: number;
  /** The key's new state. */
  entry: LimitEntry;
}

/** Whether a refusal at `now` is appended, given its key's state: at most perWindow a window. */
export function admitRefusal(entry: LimitEntry | undefined, now: number, limits: { perWindow: number; windowMs: number } = REFUSAL_LIMITS): Admission {
  // A new window (or a clock that went back): start counting again, carrying what was not logged.
  if (!entry || now - entry.windowStart >= limits.windowMs || now < entry.windowStart) {
    return { record: true, carried: entry?.suppressed ?? 0, entry: { windowStart: now, count: 1, suppressed: 0 } };
  }
  if (entry.count < limits.perWindow) {
    return { record: true, carried: entry.suppressed, entry: { windowStart: entry.windowStart, count: entry.count + 1, suppressed: 0 } };
  }
  return { record: false, carried: 0, entry: { ...entry, suppressed: entry.suppressed + 1 } };
}

/**
 * The limiter's state, with entries no longer needed dropped (window over and nothing to carry), and at
 * most `max` keys kept (the most recent windows): the state file stays small whatever happens.
 */
export function pruneLimits(state: Record<string, LimitEntry>, now: number, windowMs: number = REFUSAL_LIMITS.windowMs, max = 256): Record<string, LimitEntry> {
  const live = Object.entries(state).filter(([, e]) => e.suppressed > 0 || now - e.windowStart < windowMs);
  live.sort((a, b) => b[1].windowStart - a[1].windowStart);
  return Object.fromEntries(live.slice(0, max));
}
