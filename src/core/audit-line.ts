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
 * most 15 digits (no "-0", fractions or exponents), the seven top-level members in that order. For such
 * a line, hashing the text minus the member gives the same digest as parse + canonicalise + hash, so the
 * verifier's fast path can never accept what the full path would reject. Anything else — a line edited
 * by hand, re-serialised by some tool, with unusual escapes, long numbers or deep nesting — is left to
 * the full path, which judges it as it always has.
 *
 * It is a single pass of charCodeAt over a flat string: several times cheaper than JSON.parse, which
 * builds every object and string of the line only to have most of them thrown away.
 */

/** What the verifier needs from a canonical line: offsets into it, and the sequence number. */
export interface CanonicalLine {
  /** Index of `"hash":"`: the 74 characters from here (`"hash":"<64 hex>",`) are not hashed. */
  memberAt: number;
  /** Index of the 64 characters of `prev`. */
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
  /** The JSON text of data.argv, whatever its type (start -1 when absent). */
  argvStart: number;
  argvEnd: number;
  /** Every character is below U+0080, so the line's UTF-8 bytes are its characters one for one. */
  ascii: boolean;
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
    argvStart: -1,
    argvEnd: -1,
    ascii: true,
  };
}

/** The length of `"hash":"<64 hex>",`, the member the hash does not cover. */
export const HASH_MEMBER_LENGTH = 74;

/** Nesting beyond this is legal but unusual: the full path takes it (and no recursion runs deep here). */
const MAX_DEPTH = 32;
/** Integers of up to 15 digits are below 2^53, so JSON.stringify writes them back digit for digit. */
const MAX_DIGITS = 15;

// The scanner's state: module-level because the scan is synchronous and runs a million times.
let text = "";
let end = 0;
let ascii = true;
let escaped = false;
let out: CanonicalLine = newCanonicalLine();

/**
 * Fill `line` and return true when `s` is a canonical audit line (see above); false otherwise, with
 * `line` in an unspecified state. Nothing is allocated.
 */
export function scanCanonicalLine(s: string, line: CanonicalLine): boolean {
  text = s;
  end = s.length;
  ascii = true;
  out = line;
  line.runIdStart = line.requestIdStart = line.argvStart = -1;
  try {
    return scanLine();
  } finally {
    text = ""; // do not keep the last line alive
  }
}

function scanLine(): boolean {
  if (!text.startsWith('{"actor":{', 0)) return false;
  let p = scanObject(10, 1, false);
  if (p < 0 || !text.startsWith(',"data":{', p)) return false;
  p = scanObject(p + 9, 1, true);
  if (p < 0 || !text.startsWith(',"hash":"', p)) return false;
  // The 64 characters of hash and prev are compared with hex digests by the caller, so they are not
  // inspected here; an equal comparison proves them hex (and free of quotes).
  out.memberAt = p + 1;
  p += 9 + 64;
  if (!text.startsWith('","prev":"', p)) return false;
  out.prevAt = p + 10;
  p += 10 + 64;
  if (!text.startsWith('","seq":', p)) return false;
  p += 8;
  const seqStart = p;
  let c = text.charCodeAt(p);
  if (!(c >= 49 && c <= 57)) return false; // 1-9: positive, no leading zero
  let seq = 0;
  while (p < end && (c = text.charCodeAt(p)) >= 48 && c <= 57) {
    seq = seq * 10 + (c - 48); // exact below 2^53; anything above fails the check below
    p++;
  }
  if (p - seqStart > 16 || !Number.isSafeInteger(seq)) return false;
  out.seq = seq;
  if (!text.startsWith(',"time":"', p)) return false;
  p = scanString(p + 9);
  if (p < 0 || !text.startsWith(',"type":"', p)) return false;
  out.typeStart = p + 9;
  escaped = false;
  p = scanString(p + 9);
  if (p < 0) return false;
  out.typeEnd = p - 1;
  out.typeEscaped = escaped;
  if (p !== end - 1 || text.charCodeAt(p) !== 125) return false;
  out.ascii = ascii;
  return true;
}

/** After an object's `{`; returns the index after its `}`, or -1. `capture`: record data's members. */
function scanObject(p: number, depth: number, capture: boolean): number {
  if (text.charCodeAt(p) === 125) return p + 1;
  let lastStart = -1;
  let lastEnd = -1;
  for (;;) {
    if (text.charCodeAt(p) !== 34) return -1;
    const keyStart = p + 1;
    escaped = false;
    p = scanString(keyStart);
    // A key with escapes would be compared by its escaped form: leave it to the full path.
    if (p < 0 || escaped) return -1;
    const keyEnd = p - 1;
    if (lastStart >= 0 && !keyAfter(lastStart, lastEnd, keyStart, keyEnd)) return -1;
    lastStart = keyStart;
    lastEnd = keyEnd;
    if (text.charCodeAt(p) !== 58) return -1;
    const valueStart = p + 1;
    escaped = false;
    p = scanValue(valueStart, depth);
    if (p < 0) return -1;
    if (capture) captureMember(keyStart, keyEnd - keyStart, valueStart, p);
    const c = text.charCodeAt(p);
    if (c === 44) p++;
    else if (c === 125) return p + 1;
    else return -1;
  }
}

/** Remember data.runId, data.requestId (strings only, as the verifier reads them) and data.argv. */
function captureMember(keyStart: number, keyLength: number, valueStart: number, valueEnd: number): void {
  const isString = text.charCodeAt(valueStart) === 34;
  if (keyLength === 5 && text.startsWith("runId", keyStart)) {
    if (!isString) return;
    out.runIdStart = valueStart + 1;
    out.runIdEnd = valueEnd - 1;
    out.runIdEscaped = escaped;
  } else if (keyLength === 9 && text.startsWith("requestId", keyStart)) {
    if (!isString) return;
    out.requestIdStart = valueStart + 1;
    out.requestIdEnd = valueEnd - 1;
    out.requestIdEscaped = escaped;
  } else if (keyLength === 4 && text.startsWith("argv", keyStart)) {
    out.argvStart = valueStart;
    out.argvEnd = valueEnd;
  }
}

/** True when key b sorts strictly after key a (UTF-16 code units, as Array.prototype.sort compares). */
function keyAfter(aStart: number, aEnd: number, bStart: number, bEnd: number): boolean {
  const aLen = aEnd - aStart;
  const bLen = bEnd - bStart;
  const n = aLen < bLen ? aLen : bLen;
  for (let i = 0; i < n; i++) {
    const x = text.charCodeAt(aStart + i);
    const y = text.charCodeAt(bStart + i);
    if (x !== y) return y > x;
  }
  return bLen > aLen;
}

/** A value starting at p; returns the index after it, or -1. */
function scanValue(p: number, depth: number): number {
  const c = text.charCodeAt(p);
  switch (c) {
    case 34:
      return scanString(p + 1);
    case 123:
      return depth >= MAX_DEPTH ? -1 : scanObject(p + 1, depth + 1, false);
    case 91:
      return depth >= MAX_DEPTH ? -1 : scanArray(p + 1, depth + 1);
    case 116:
      return text.startsWith("true", p) ? p + 4 : -1;
    case 102:
      return text.startsWith("false", p) ? p + 5 : -1;
    case 110:
      return text.startsWith("null", p) ? p + 4 : -1;
    default:
      return scanInteger(p);
  }
}

function scanArray(p: number, depth: number): number {
  if (text.charCodeAt(p) === 93) return p + 1;
  for (;;) {
    p = scanValue(p, depth);
    if (p < 0) return -1;
    const c = text.charCodeAt(p);
    if (c === 44) p++;
    else if (c === 93) return p + 1;
    else return -1;
  }
}

/** An integer as JSON.stringify writes one: -?(0|[1-9][0-9]*), at most 15 digits, never -0. */
function scanInteger(p: number): number {
  let q = p;
  if (text.charCodeAt(q) === 45) q++;
  const first = q;
  let c = text.charCodeAt(q);
  if (c === 48) {
    if (q !== p) return -1; // -0 reads back as 0
    q++;
  } else if (c >= 49 && c <= 57) {
    q++;
    while (q < end && (c = text.charCodeAt(q)) >= 48 && c <= 57) q++;
    if (q - first > MAX_DIGITS) return -1;
  } else {
    return -1;
  }
  // A fraction or an exponent may not come back the same: the full path decides.
  c = text.charCodeAt(q);
  if (c === 46 || c === 101 || c === 69 || (c >= 48 && c <= 57)) return -1;
  return q;
}

/**
 * After a string's opening quote; returns the index after its closing quote, or -1 for anything
 * JSON.stringify would not have written: a raw control character, a lone surrogate, an escape other than
 * \" \\ \b \f \n \r \t or \u00XX (lowercase, for the other control characters). Sets `escaped`.
 */
function scanString(p: number): number {
  for (;;) {
    if (p >= end) return -1;
    const c = text.charCodeAt(p++);
    if (c === 34) return p;
    if (c < 32) return -1;
    if (c === 92) {
      escaped = true;
      p = scanEscape(p);
      if (p < 0) return -1;
    } else if (c >= 128) {
      ascii = false;
      if (c >= 0xd800 && c <= 0xdfff) {
        // A pair is written as it is; a lone surrogate would be escaped.
        if (c >= 0xdc00) return -1;
        const low = text.charCodeAt(p);
        if (!(low >= 0xdc00 && low <= 0xdfff)) return -1;
        p++;
      }
    }
  }
}

/** After a backslash: the index after the escape, or -1 when JSON.stringify would not write it so. */
function scanEscape(p: number): number {
  const c = text.charCodeAt(p);
  switch (c) {
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
      if (text.charCodeAt(p + 1) !== 48 || text.charCodeAt(p + 2) !== 48) return -1;
      const hi = text.charCodeAt(p + 3);
      const lo = hexValue(text.charCodeAt(p + 4));
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
