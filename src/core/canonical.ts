import * as crypto from "node:crypto";
import { createHash } from "node:crypto";

/**
 * Canonical JSON: object keys sorted by UTF-16 code unit order, no whitespace, arrays in order.
 * `undefined` members are dropped (as JSON.stringify does); non-finite numbers are refused because
 * they have no JSON form and would make two different values hash alike.
 */
export function canonicalJson(value: unknown): string {
  return serialize(value);
}

function serialize(value: unknown): string {
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
      if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? "null" : serialize(v))).join(",")}]`;
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${serialize(obj[k])}`).join(",")}}`;
    }
    default:
      throw new TypeError(`canonicalJson: cannot encode ${typeof value}`);
  }
}

// crypto.hash (Node ≥ 20.12) is a one-shot digest without a Hash object: several times faster for the
// many small inputs of `audit verify`.
const oneShot = (crypto as { hash?: (alg: string, data: string | Uint8Array, enc: "hex") => string }).hash;

export function sha256Hex(data: string | Uint8Array): string {
  return oneShot ? oneShot("sha256", data, "hex") : createHash("sha256").update(data).digest("hex");
}

/** SHA-256 of the canonical JSON of a value, hex. */
export function digestOf(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}
