/**
 * SHA-256 in WebAssembly (sha256.wat, embedded by sha256-wasm.ts), for guard's start-up path.
 *
 * Loading node:crypto costs about 2 ms, the largest single share of what `guard run` adds to a command
 * (PERFORMANCE.md), and an allowed run needs only a few small SHA-256s: its policy files' digests and
 * the audit events it chains. Those go through this module (about 0.3 ms to compile, then hundreds of
 * MB/s); everything else (signatures, fingerprints, hashing a program, bulk verification) uses
 * node:crypto and loads it then. A hash of public data has no secret to leak by timing; what matters is
 * that it is exactly SHA-256: test/core/sha256.test.ts checks it against node:crypto on every length
 * around the block boundaries and on large random inputs, and that the embedded bytes are the .wat
 * assembled. Independently, `guard audit verify` recomputes every audit hash with node:crypto.
 *
 * Without WebAssembly (node --jitless) the function answers null and the caller uses node:crypto.
 */
import { SHA256_WASM_BASE64 } from "./sha256-wasm.js";

interface Engine {
  blocks: (ptr: number, count: number) => void;
  bytes: Uint8Array;
  words: Int32Array;
}

/** Where the module compresses from, and how much it takes at a time (its memory is one 64 KiB page). */
const INPUT = 1024;
const CHUNK = 64 * 1000;
const IV = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** The part of the WebAssembly API used here (the project's TypeScript libraries do not declare it). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: { memory?: { buffer: ArrayBuffer }; blocks?: unknown } };
}

let engine: Engine | null | undefined;

function load(): Engine | null {
  if (engine !== undefined) return engine;
  engine = null;
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (wasm === undefined) return engine;
  try {
    const { exports } = new wasm.Instance(new wasm.Module(Buffer.from(SHA256_WASM_BASE64, "base64")), {});
    if (exports.memory && typeof exports.blocks === "function") {
      const buffer = exports.memory.buffer;
      engine = { blocks: exports.blocks as Engine["blocks"], bytes: new Uint8Array(buffer), words: new Int32Array(buffer) };
    }
  } catch {
    engine = null;
  }
  return engine;
}

/** SHA-256 of `data` (a string as its UTF-8 bytes), 64 lowercase hex digits; null without WebAssembly. */
export function sha256HexWasm(data: string | Uint8Array): string | null {
  const e = load();
  if (e === null) return null;
  const msg = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  const { blocks, bytes, words } = e;
  for (let i = 0; i < 8; i++) words[i] = IV[i]!;
  const n = msg.length;
  const whole = n - (n % 64);
  for (let off = 0; off < whole; off += CHUNK) {
    const len = Math.min(CHUNK, whole - off);
    bytes.set(msg.subarray(off, off + len), INPUT);
    blocks(INPUT, len / 64);
  }
  // The last block(s): the rest of the message, 0x80, zeros, and the length in bits, big-endian.
  const rest = n - whole;
  const tail = rest < 56 ? 64 : 128;
  bytes.fill(0, INPUT, INPUT + tail);
  bytes.set(msg.subarray(whole), INPUT);
  bytes[INPUT + rest] = 0x80;
  const bits = n * 8;
  const hi = Math.floor(bits / 0x100000000);
  const lo = bits >>> 0;
  const end = INPUT + tail;
  bytes[end - 8] = hi >>> 24;
  bytes[end - 7] = (hi >>> 16) & 0xff;
  bytes[end - 6] = (hi >>> 8) & 0xff;
  bytes[end - 5] = hi & 0xff;
  bytes[end - 4] = lo >>> 24;
  bytes[end - 3] = (lo >>> 16) & 0xff;
  bytes[end - 2] = (lo >>> 8) & 0xff;
  bytes[end - 1] = lo & 0xff;
  blocks(INPUT, tail / 64);
  let out = "";
  for (let i = 0; i < 8; i++) {
    const v = words[i]!;
    out += HEX[(v >>> 24) & 0xff]! + HEX[(v >>> 16) & 0xff]! + HEX[(v >>> 8) & 0xff]! + HEX[v & 0xff]!;
  }
  return out;
}
