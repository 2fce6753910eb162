/**
 * Reading a stored audit line without JSON.parse, for `guard audit verify` over long logs.
 *
 * Both stores write every event as canonicalJson(event), whose keys are sorted:
 *
 *   {"actor":{…},"data":{…},"hash":"<64 hex>","prev":"<64 hex>","seq":N,"time":"…","type":"…"}
 *
 * and the event's hash is SHA-256 over canonicalJson of the other six fields, which is exactly that
 * line without its `"hash":"<64 hex>",` member. `scanCanonicalLine` accepts a line only when it is, char
 * for char, canonicalJson(JSON.parse(line)): valid JSON, no whitespace, object keys strictly increasing in
 * UTF-16 order (so no duplicates), strings escaped exactly as JSON.stringify escapes them, integers of at
 * most 15 digits (no "-0", fractions or exponents), the seven top-level members in that order. (The 64
 * characters of hash and of prev it leaves to its callers, which compare them with hex digests.) For such
 * a line, hashing the text minus the member gives the same digest as parse + canonicalise + hash, so the
 * verifier's fast path can never accept what the full path would reject. Anything else — a line edited
 * by hand, re-serialised by some tool, with unusual escapes, long numbers or deep nesting — is left to
 * the full path, which judges it as it always has.
 *
 * It is a single pass over the line's UTF-8 bytes: several times cheaper than JSON.parse, which decodes
 * the line and builds every object and string in it only to have most of them thrown away. A line with
 * bytes above 0x7F must also be valid UTF-8 (else its decoded text, which the full path hashes, would not
 * be these bytes), and keys must be ASCII (UTF-8 byte order is not always the UTF-16 order that keys are
 * sorted by).
 */
import { Buffer, isUtf8 } from "node:buffer";
import { hash as oneShotHash } from "node:crypto";

/** What the verifier needs from a canonical line: byte offsets into the buffer, and the sequence number. */
export interface CanonicalLine {
  /** Index of `"hash":"`: the 74 bytes from here (`"hash":"<64 hex>",`) are not hashed. */
  memberAt: number;
  /** Index of the 64 bytes of `prev`. */
  prevAt: number;
  seq: number;
  /** Content of the `type` string (between its quotes), and whether it holds escapes. */
  typeStart: number;
  typeEnd: number;
  typeEscaped: boolean;
  /** data.runId and data.requestId when they are strings (start -1 otherwise), as content spans. */
  runIdStart: number;
  runIdEnd: number;
  runIdEscaped: boolean;
  requestIdStart: number;
  requestIdEnd: number;
  requestIdEscaped: boolean;
  /** Index of the data object's `{`: its JSON text is [dataStart, memberAt - 1). */
  dataStart: number;
  /** The JSON text of data.argv, whatever its type (start -1 when absent). */
  argvStart: number;
  argvEnd: number;
  /** Which of the types the verifier tracks this is (TRACKED_TYPES[tracked - 1]), or 0. Set by checkCanonicalLine. */
  tracked: number;
  /** The event's hash (hex) as checkCanonicalLine found it; "" when a line is passed on without it. */
  hash: string;
}

export function newCanonicalLine(): CanonicalLine {
  return {
    memberAt: 0,
    prevAt: 0,
    seq: 0,
    typeStart: 0,
    typeEnd: 0,
    typeEscaped: false,
    runIdStart: -1,
    runIdEnd: -1,
    runIdEscaped: false,
    requestIdStart: -1,
    requestIdEnd: -1,
    requestIdEscaped: false,
    dataStart: 0,
    argvStart: -1,
    argvEnd: -1,
    tracked: 0,
    hash: "",
  };
}

/** The length of `"hash":"<64 hex>",`, the member the hash does not cover. */
const HASH_MEMBER_LENGTH = 74;

/** Lines longer than this (a run with an enormous argv) take the full path rather than a bigger buffer. */
const MAX_FAST_LINE = 1 << 16;

/**
 * The event types whose data the verifier reads. The last three are rare (one a request, one an approval,
 * one a prune) and the verifier parses their data object whole.
 */
export const TRACKED_TYPES = ["run.started", "run.finished", "request.consumed", "run.intent", "request.created", "approval.recorded", "store.pruned"] as const;

/**
 * checkCanonicalLine's workspace: the line is copied here, scanned, and its hash member cut out in
 * place (copyWithin allocates nothing, where every subarray is a new object to collect).
 */
const WORK = Buffer.allocUnsafeSlow(MAX_FAST_LINE);
/** Views of WORK from 0, by length: lines of a log come in few lengths, and each view is made once. */
const WORK_VIEWS: Buffer[] = [];
const workView = (n: number): Buffer => (WORK_VIEWS[n] ??= WORK.subarray(0, n));

/**
 * A stored line on its own, without the chain: true when buf[start, end) is a canonical audit line
 * (scanCanonicalLine) whose hash member holds the SHA-256 of the rest of it, which is then its event's
 * hash by the definition of auditHash. Fills `line` with offsets into buf, the tracked type and the
 * hash. Whether the event extends the chain is the verifier's business (AuditVerifier.pushChecked).
 * Pure and stateless between calls, so lines can be checked anywhere (in worker threads) and folded
 * into the chain in order afterwards.
 */
export function checkCanonicalLine(buf: Buffer, start: number, end: number, line: CanonicalLine): boolean {
  const n = end - start;
  if (n > MAX_FAST_LINE) return false;
  const w = WORK;
  w.set(new Uint8Array(buf.buffer, buf.byteOffset + start, n), 0); // (a Buffer's own subarray costs more)
  if (!scanCanonicalLine(w, 0, n, line)) return false;
  const cut = line.memberAt;
  line.tracked = trackedType(w, line); // (the type comes after the member: read it before the cut)
  // The hashed text is the line without its hash member; the member (still whole in buf) must hold it.
  w.copyWithin(cut, cut + HASH_MEMBER_LENGTH, n);
  const hash = oneShotHash("sha256", workView(n - HASH_MEMBER_LENGTH), "hex");
  // (One native decode and a string comparison cost less than 64 charCodeAt here.)
  if (buf.toString("latin1", start + cut + 8, start + cut + 72) !== hash) return false;
  line.hash = hash;
  // From offsets in WORK to offsets in buf.
  line.memberAt += start;
  line.prevAt += start;
  line.typeStart += start;
  line.typeEnd += start;
  line.dataStart += start;
  if (line.runIdStart >= 0) {
    line.runIdStart += start;
    line.runIdEnd += start;
  }
  if (line.requestIdStart >= 0) {
    line.requestIdStart += start;
    line.requestIdEnd += start;
  }
  if (line.argvStart >= 0) {
    line.argvStart += start;
    line.argvEnd += start;
  }
  return true;
}

function trackedType(buf: Buffer, l: CanonicalLine): number {
  if (l.typeEscaped) {
    const type = JSON.parse(buf.toString("utf8", l.typeStart - 1, l.typeEnd + 1)) as string;
    return TRACKED_TYPES.findIndex((t) => t === type) + 1;
  }
  const n = l.typeEnd - l.typeStart;
  for (let k = 0; k < TRACKED_TYPES.length; k++) {
    const t = TRACKED_TYPES[k]!;
    if (t.length !== n) continue;
    let i = 0;
    while (i < n && buf[l.typeStart + i] === t.charCodeAt(i)) i++;
    if (i === n) return k + 1;
  }
  return 0;
}

/** Nesting beyond this is legal but unusual: the full path takes it (and no recursion runs deep here). */
const MAX_DEPTH = 32;
/** Integers of up to 15 digits are below 2^53, so JSON.stringify writes them back digit for digit. */
const MAX_DIGITS = 15;

// The scanner's state: module-level because the scan is synchronous and runs a million times.
let b: Uint8Array = new Uint8Array(0);
let end = 0;
let ascii = true;
/** Set by scanString: the string just scanned holds an escape. */
let escaped = false;
let out: CanonicalLine = newCanonicalLine();

/**
 * Fill `line` and return true when bytes[start, end) is a canonical audit line (see above); false
 * otherwise, with `line` in an unspecified state. Offsets in `line` index `bytes`.
 */
export function scanCanonicalLine(bytes: Uint8Array, start: number, stop: number, line: CanonicalLine): boolean {
  b = bytes;
  end = stop;
  ascii = true;
  out = line;
  line.runIdStart = line.requestIdStart = line.argvStart = -1;
  const ok = scanLine(start) && (ascii || isUtf8(bytes.subarray(start, stop)));
  b = EMPTY; // do not keep the caller's buffer alive
  return ok;
}

const EMPTY = new Uint8Array(0);

/** The byte at p, or -1 past the end of the line (the buffer may go on with other lines). */
function ch(p: number): number {
  return p < end ? b[p]! : -1;
}

/** bytes[p…] starts with the pattern. */
function at(p: number, pattern: Uint8Array): boolean {
  const n = pattern.length;
  if (p + n > end) return false;
  for (let i = 0; i < n; i++) if (b[p + i] !== pattern[i]) return false;
  return true;
}

const ascii7 = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const ACTOR = ascii7('{"actor":{');
const DATA = ascii7(',"data":{');
const HASH = ascii7(',"hash":"');
const PREV = ascii7('","prev":"');
const SEQ = ascii7('","seq":');
const TIME = ascii7(',"time":"');
const TYPE = ascii7(',"type":"');
const TRUE = ascii7("true");
const FALSE = ascii7("false");
const NULL = ascii7("null");
const RUN_ID = ascii7("runId");
const REQUEST_ID = ascii7("requestId");
const ARGV = ascii7("argv");

function scanLine(p: number): boolean {
  if (!at(p, ACTOR)) return false;
  p = scanObject(p + 10, 1, false);
  if (p < 0 || !at(p, DATA)) return false;
  out.dataStart = p + 8;
  p = scanObject(p + 9, 1, true);
  if (p < 0 || !at(p, HASH)) return false;
  // The 64 bytes of hash and prev are compared with hex digests by the caller, so they are not
  // inspected here; an equal comparison proves them hex (and free of quotes).
  out.memberAt = p + 1;
  p += 9 + 64;
  if (!at(p, PREV)) return false;
  out.prevAt = p + 10;
  p += 10 + 64;
  if (!at(p, SEQ)) return false;
  p += 8;
  const seqStart = p;
  let c = ch(p);
  if (!(c >= 49 && c <= 57)) return false; // 1-9: positive, no leading zero
  let seq = 0;
  while ((c = ch(p)) >= 48 && c <= 57) {
    seq = seq * 10 + (c - 48); // exact below 2^53; anything above fails the check below
    p++;
  }
  if (p - seqStart > 16 || !Number.isSafeInteger(seq)) return false;
  out.seq = seq;
  if (!at(p, TIME)) return false;
  p = scanString(p + 9);
  if (p < 0 || !at(p, TYPE)) return false;
  out.typeStart = p + 9;
  escaped = false;
  p = scanString(p + 9);
  if (p < 0) return false;
  out.typeEnd = p - 1;
  out.typeEscaped = escaped;
  return p === end - 1 && ch(p) === 125;
}

/** After an object's `{`; returns the index after its `}`, or -1. `capture`: record data's members. */
function scanObject(p: number, depth: number, capture: boolean): number {
  if (ch(p) === 125) return p + 1;
  let lastStart = -1;
  let lastLength = 0;
  for (;;) {
    if (ch(p) !== 34) return -1;
    const keyStart = p + 1;
    const keyEnd = scanKey(keyStart, lastStart, lastLength);
    if (keyEnd < 0 || ch(keyEnd + 1) !== 58) return -1;
    lastStart = keyStart;
    lastLength = keyEnd - keyStart;
    const valueStart = keyEnd + 2;
    escaped = false;
    p = scanValue(valueStart, depth);
    if (p < 0) return -1;
    if (capture) captureMember(keyStart, lastLength, valueStart, p);
    const c = ch(p);
    if (c === 44) p++;
    else if (c === 125) return p + 1;
    else return -1;
  }
}

/**
 * After a key's opening quote; returns the index of its closing quote, or -1. A key must be plain
 * printable ASCII (compared byte by byte, which is UTF-16 order only then; no escapes) and sort strictly
 * after the previous key of its object (at lastStart, lastLength bytes; none when lastStart < 0).
 */
function scanKey(p: number, lastStart: number, lastLength: number): number {
  const bytes = b;
  const stop = end;
  let after = lastStart < 0; // decided: sorts after the previous key
  for (let i = 0; p < stop; i++, p++) {
    const c = bytes[p]!;
    if (c === 34) return after || i > lastLength ? p : -1;
    if (c < 32 || c === 92 || c >= 128) return -1;
    if (!after) {
      if (i >= lastLength) {
        after = true;
      } else {
        const d = bytes[lastStart + i]!;
        if (c < d) return -1;
        after = c > d;
      }
    }
  }
  return -1;
}

/** Remember data.runId, data.requestId (strings only, as the verifier reads them) and data.argv. */
function captureMember(keyStart: number, keyLength: number, valueStart: number, valueEnd: number): void {
  const first = b[keyStart];
  if (first === 114 && keyLength === 5 && at(keyStart, RUN_ID)) {
    if (ch(valueStart) !== 34) return;
    out.runIdStart = valueStart + 1;
    out.runIdEnd = valueEnd - 1;
    out.runIdEscaped = escaped;
  } else if (first === 114 && keyLength === 9 && at(keyStart, REQUEST_ID)) {
    if (ch(valueStart) !== 34) return;
    out.requestIdStart = valueStart + 1;
    out.requestIdEnd = valueEnd - 1;
    out.requestIdEscaped = escaped;
  } else if (first === 97 && keyLength === 4 && at(keyStart, ARGV)) {
    out.argvStart = valueStart;
    out.argvEnd = valueEnd;
  }
}

/** A value starting at p; returns the index after it, or -1. */
function scanValue(p: number, depth: number): number {
  switch (ch(p)) {
    case 34:
      return scanString(p + 1);
    case 123:
      return depth >= MAX_DEPTH ? -1 : scanObject(p + 1, depth + 1, false);
    case 91:
      return depth >= MAX_DEPTH ? -1 : scanArray(p + 1, depth + 1);
    case 116:
      return at(p, TRUE) ? p + 4 : -1;
    case 102:
      return at(p, FALSE) ? p + 5 : -1;
    case 110:
      return at(p, NULL) ? p + 4 : -1;
    default:
      return scanInteger(p);
  }
}

function scanArray(p: number, depth: number): number {
  if (ch(p) === 93) return p + 1;
  for (;;) {
    p = scanValue(p, depth);
    if (p < 0) return -1;
    const c = ch(p);
    if (c === 44) p++;
    else if (c === 93) return p + 1;
    else return -1;
  }
}

/** An integer as JSON.stringify writes one: -?(0|[1-9][0-9]*), at most 15 digits, never -0. */
function scanInteger(p: number): number {
  let q = p;
  if (ch(q) === 45) q++;
  const first = q;
  let c = ch(q);
  if (c === 48) {
    if (q !== p) return -1; // -0 reads back as 0
    q++;
  } else if (c >= 49 && c <= 57) {
    q++;
    while ((c = ch(q)) >= 48 && c <= 57) q++;
    if (q - first > MAX_DIGITS) return -1;
  } else {
    return -1;
  }
  // A fraction or an exponent may not come back the same: the full path decides.
  c = ch(q);
  if (c === 46 || c === 101 || c === 69 || (c >= 48 && c <= 57)) return -1;
  return q;
}

/**
 * After a string's opening quote; returns the index after its closing quote, or -1 for anything
 * JSON.stringify would not have written: a raw control character, or an escape other than \" \\ \b \f
 * \n \r \t and \u00XX (lowercase, for the other control characters). Sets `escaped`.
 */
function scanString(p: number): number {
  // Locals and one table lookup a byte: this loop is where the scan spends most of its time.
  const bytes = b;
  const stop = end;
  const kinds = BYTE_KIND;
  for (;;) {
    let k = 0;
    while (p < stop && (k = kinds[bytes[p]!]!) === 0) p++;
    if (p >= stop) return -1;
    p++;
    if (k === QUOTE) return p;
    if (k === BACKSLASH) {
      escaped = true;
      p = scanEscape(p);
      if (p < 0) return -1;
    } else if (k === HIGH) {
      ascii = false; // the whole line is checked for UTF-8 at the end
    } else {
      return -1; // a raw control character
    }
  }
}

const QUOTE = 1;
const BACKSLASH = 2;
const CONTROL = 3;
const HIGH = 4;
/** What each byte is inside a string: 0 for the ordinary ones. */
const BYTE_KIND = new Uint8Array(256);
BYTE_KIND.fill(CONTROL, 0, 32);
BYTE_KIND.fill(HIGH, 128, 256);
BYTE_KIND[34] = QUOTE;
BYTE_KIND[92] = BACKSLASH;

/** After a backslash: the index after the escape, or -1 when JSON.stringify would not write it so. */
function scanEscape(p: number): number {
  switch (ch(p)) {
    case 34: // \"
    case 92: // \\
    case 98: // \b
    case 102: // \f
    case 110: // \n
    case 114: // \r
    case 116: // \t
      return p + 1;
    case 117: {
      // \u00XX for a control character without a short form, lowercase hex.
      // (A lone surrogate is escaped too, as \udXXX, but it has no UTF-8 form: the full path decides.)
      if (ch(p + 1) !== 48 || ch(p + 2) !== 48) return -1;
      const hi = ch(p + 3);
      const lo = hexValue(ch(p + 4));
      if ((hi !== 48 && hi !== 49) || lo < 0) return -1;
      const v = (hi - 48) * 16 + lo;
      if (v === 8 || v === 9 || v === 10 || v === 12 || v === 13) return -1;
      return p + 5;
    }
    default:
      return -1;
  }
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}
