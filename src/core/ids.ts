import { GuardError, ExitCode } from "./errors.js";

/**
 * Request ids and nonces. Randomness is a parameter so the core stays pure; the adapters pass
 * `crypto.randomBytes`. Ids are lowercase base32 (RFC 4648 alphabet) so they are safe as file names,
 * in URLs and on a terminal, and can never contain `/`, `.` or NUL (S5).
 */

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";
const ID_CHARS = 20; // 100 bits
const ID_MIN_BYTES = Math.ceil((ID_CHARS * 5) / 8); // 13
const NONCE_MIN_BYTES = 16;

/** The one request id pattern: the stores use it too (adapters/store/types.ts re-exports it). */
export const REQUEST_ID_PATTERN = /^r-[a-z2-7]{20}$/;
/** What the stores' listRequestIds accept: `r-` and the first letters of an id, none to all twenty. */
export const REQUEST_ID_PREFIX_PATTERN = /^r-[a-z2-7]{0,20}$/;

export function newRequestId(random: Uint8Array): string {
  if (random.length < ID_MIN_BYTES) {
    throw new GuardError(ExitCode.INTERNAL, `newRequestId needs at least ${ID_MIN_BYTES} random bytes, got ${random.length}`);
  }
  let out = "r-";
  let acc = 0;
  let bits = 0;
  for (const byte of random.subarray(0, ID_MIN_BYTES)) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < ID_CHARS + 2) {
      bits -= 5;
      out += BASE32[(acc >>> bits) & 31];
    }
    acc &= (1 << bits) - 1; // keep only the unread bits so the accumulator never overflows
  }
  return out;
}

/** A hex nonce of all the given bytes (at least 128 bits, so two requests never share one by chance). */
export function newNonce(random: Uint8Array): string {
  if (random.length < NONCE_MIN_BYTES) {
    throw new GuardError(ExitCode.INTERNAL, `newNonce needs at least ${NONCE_MIN_BYTES} random bytes, got ${random.length}`);
  }
  return Buffer.from(random).toString("hex");
}

export function isRequestId(s: unknown): s is string {
  return typeof s === "string" && REQUEST_ID_PATTERN.test(s);
}

const ID_PREFIX = /^(?:r-)?([a-z2-7]{1,20})$/;

/** Whether `s` could name a request: a full id, or a prefix of one (with or without `r-`). */
export function isRequestIdOrPrefix(s: string): boolean {
  return isRequestId(s) || ID_PREFIX.test(s);
}

export type IdResolution = { ok: true; id: string } | { ok: false; problem: "not-an-id" | "none" | "ambiguous"; candidates: string[] };

/**
 * A request id as a person typed it: a full id is taken as it is; a unique prefix (`r-3k5q` or `3k5q`)
 * stands for the one known id it starts; none, or more than one, is an answer to report, never a guess.
 */
/** The `r-…` start a person typed (`r-3k5q`, `3k5q`), or null when it cannot start a request id. */
export function requestIdPrefix(given: string): string | null {
  const m = ID_PREFIX.exec(given);
  return m ? `r-${m[1]}` : null;
}

export function resolveRequestId(given: string, known: readonly string[]): IdResolution {
  if (isRequestId(given)) return { ok: true, id: given };
  const m = ID_PREFIX.exec(given);
  if (!m) return { ok: false, problem: "not-an-id", candidates: [] };
  const prefix = `r-${m[1]}`;
  const candidates = [...new Set(known.filter((id) => isRequestId(id) && id.startsWith(prefix)))].sort();
  if (candidates.length === 1) return { ok: true, id: candidates[0]! };
  return { ok: false, problem: candidates.length === 0 ? "none" : "ambiguous", candidates };
}
