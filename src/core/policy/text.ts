import type { FileDiagnostics } from "./diagnostics.js";

/** Policy files larger than this are refused before any parsing (P8). */
export const MAX_FILE_BYTES = 1024 * 1024;

/**
 * Characters refused anywhere in a policy file: C0 controls other than tab, LF and CR; DEL and C1
 * controls; bidirectional overrides and isolates, zero-width characters and a byte-order mark inside the
 * text (Trojan Source: a reviewer must see exactly what guard reads); Unicode line and paragraph
 * separators, which JavaScript treats as line breaks and YAML does not.
 */
const FORBIDDEN_CHARS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/**
 * Decode a policy file's bytes as strict UTF-8, refusing everything a YAML parser might read
 * differently from a human: oversized files, byte-order marks, NUL bytes, invalid UTF-8 (never replaced
 * by U+FFFD). Returns null when the file cannot be read as text at all.
 */
export function decodePolicyText(bytes: Uint8Array, sink: FileDiagnostics): string | null {
  if (bytes.length > MAX_FILE_BYTES) {
    sink.errorAt(1, 1, "too-large", `the file is too large: ${bytes.length} bytes, more than the ${MAX_FILE_BYTES} byte (1 MiB) limit`, "a policy file is a few kilobytes; split it or check that this is the right file");
    return null;
  }
  const bom = byteOrderMark(bytes);
  if (bom) {
    sink.errorAt(1, 1, "byte-order-mark", `the file starts with a ${bom} byte-order mark`, bom === "UTF-8" ? "save the file as UTF-8 without a BOM" : "save the file as UTF-8 (without a BOM): guard reads only UTF-8");
    return null;
  }
  const nul = bytes.indexOf(0);
  if (nul !== -1) {
    const { line, col } = bytePosition(bytes, nul);
    sink.errorAt(line, col, "nul-byte", "the file contains a NUL byte", "policy files are UTF-8 text; check that this is not a binary or UTF-16 file");
    return null;
  }
  const bad = firstInvalidUtf8(bytes);
  if (bad !== -1) {
    const { line, col } = bytePosition(bytes, bad);
    sink.errorAt(line, col, "invalid-utf8", "the file is not valid UTF-8", "save the file as UTF-8; guard never guesses an encoding or replaces bad bytes");
    return null;
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    sink.errorAt(1, 1, "invalid-utf8", "the file is not valid UTF-8", "save the file as UTF-8");
    return null;
  }
  return text;
}

/** Report every forbidden character in decoded text (the sink locates offsets in that text). */
export function checkCharacters(text: string, sink: FileDiagnostics): void {
  for (const m of text.matchAll(FORBIDDEN_CHARS)) {
    const code = m[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
    sink.error(m.index, "forbidden-character", `invisible or control character U+${code} in the file`, "remove it: policy text must read the same to a reviewer as to guard");
  }
}

function byteOrderMark(b: Uint8Array): string | null {
  if (b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) return "UTF-8";
  if (b[0] === 0x00 && b[1] === 0x00 && b[2] === 0xfe && b[3] === 0xff) return "UTF-32";
  if (b[0] === 0xff && b[1] === 0xfe && b[2] === 0x00 && b[3] === 0x00) return "UTF-32";
  if ((b[0] === 0xfe && b[1] === 0xff) || (b[0] === 0xff && b[1] === 0xfe)) return "UTF-16";
  return null;
}

/** 1-based line and byte column of a byte offset. */
function bytePosition(bytes: Uint8Array, offset: number): { line: number; col: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    if (bytes[i] === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, col: offset - lineStart + 1 };
}

/** Offset of the first byte that does not start or continue a well-formed UTF-8 sequence, or -1. */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c === 0xe0) [need, lo] = [2, 0xa0];
    else if (c >= 0xe1 && c <= 0xec) need = 2;
    else if (c === 0xed) [need, hi] = [2, 0x9f];
    else if (c >= 0xee && c <= 0xef) need = 2;
    else if (c === 0xf0) [need, lo] = [3, 0x90];
    else if (c >= 0xf1 && c <= 0xf3) need = 3;
    else if (c === 0xf4) [need, hi] = [3, 0x8f];
    else return i;
    for (let k = 1; k <= need; k++) {
      const d = b[i + k];
      const [min, max] = k === 1 ? [lo, hi] : [0x80, 0xbf];
      if (d === undefined || d < min || d > max) return i;
    }
    i += need + 1;
  }
  return -1;
}
