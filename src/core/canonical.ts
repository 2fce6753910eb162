import { hash as nodeHash } from "node:crypto";

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
      // Plain loops and one string: this runs for every record `audit verify` checks (a request's
      // environment alone is a hundred small objects), and map/filter/join allocate on every level.
      if (Array.isArray(value)) {
        let out = "[";
        for (let i = 0; i < value.length; i++) {
          const v: unknown = value[i];
          out += `${i === 0 ? "" : ","}${v === undefined ? "null" : serialize(v, depth + 1)}`;
        }
        return `${out}]`;
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).sort();
      let out = "{";
      let first = true;
      for (const k of keys) {
        const v = obj[k];
        if (v === undefined) continue;
        out += `${first ? "" : ","}${JSON.stringify(k)}:${serialize(v, depth + 1)}`;
        first = false;
      }
      return `${out}}`;
    }
    default:
      throw new TypeError(`canonicalJson: cannot encode ${typeof value}`);
  }
}

/** SHA-256 of `data` (a string as its UTF-8 bytes), 64 lowercase hex digits. */
export function sha256Hex(data: string | Uint8Array): string {
  // crypto.hash (Node ≥ 20.12; guard needs 20.17) is a one-shot digest without a Hash object.
  return nodeHash("sha256", data, "hex");
}

/** SHA-256 of the canonical JSON of a value, hex. */
export function digestOf(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}
