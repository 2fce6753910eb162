import { hash as nodeHash } from "node:crypto";
import { sha256HexWasm } from "./sha256.js";

/**
 * Canonical JSON: object keys sorted by UTF-16 code unit order, no whitespace, arrays in order.
 * `undefined` members are dropped (as JSON.stringify does); non-finite numbers are refused because
 * they have no JSON form and would make two different values hash alike.
 */
export function canonicalJson(value: unknown): string {
  return serialize(value, 0);
}

/**
 * Deeper than this is refused rather than recursed into (a stack overflow is a crash). Stored JSON is
 * bounded far below it before it is parsed (core/json-depth.ts); this only keeps a missed path from crashing.
 */
const MAX_DEPTH = 1000;

function serialize(value: unknown, depth: number): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isFinite(value)) throw new TypeError("canonicalJson: non-finite number");
      return JSON.stringify(value);
    case "object": {
      if (depth >= MAX_DEPTH) throw new TypeError(`canonicalJson: nested more than ${MAX_DEPTH} levels`);
      if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? "null" : serialize(v, depth + 1))).join(",")}]`;
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${serialize(obj[k], depth + 1)}`).join(",")}}`;
    }
    default:
      throw new TypeError(`canonicalJson: cannot encode ${typeof value}`);
  }
}

/**
 * Small inputs, up to a few KB a process, are hashed in WebAssembly (sha256.ts): an allowed `guard run`
 * hashes about 8 KB (its policy files, two audit events) and never loads node:crypto. A larger input,
 * or more of them (a large policy, many records), goes to node:crypto, whose faster code repays loading
 * it; WebAssembly's first code is slow until V8 optimises it.
 */
const WASM_MAX_INPUT = 8 * 1024;
const WASM_BUDGET = 24 * 1024;
let wasmBytes = 0;

/** Work announced beyond this (leaving the rest of the budget for digests and audit events) goes native. */
const WASM_ANNOUNCED_MAX = 16 * 1024;

/**
 * The caller is about to hash `bytes` bytes (a policy's files). Beyond what WebAssembly would take,
 * node:crypto is used from the first input on, rather than also compiling the WebAssembly module for a
 * few small ones first.
 */
export function expectHashing(bytes: number): void {
  if (bytes > WASM_ANNOUNCED_MAX) wasmBytes = WASM_BUDGET + 1;
}

export function sha256Hex(data: string | Uint8Array): string {
  if (data.length <= WASM_MAX_INPUT && wasmBytes + data.length <= WASM_BUDGET) {
    wasmBytes += data.length;
    const hex = sha256HexWasm(data);
    if (hex !== null) return hex;
    wasmBytes = WASM_BUDGET; // no WebAssembly here
  }
  // crypto.hash (Node ≥ 20.12; guard needs 20.17) is a one-shot digest without a Hash object.
  return nodeHash("sha256", data, "hex");
}

/** SHA-256 of the canonical JSON of a value, hex. */
export function digestOf(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}
