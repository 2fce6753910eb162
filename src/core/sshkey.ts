import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import type { PublicKey } from "./types.js";

/** Key types guard accepts, and why others are refused. */
const ACCEPTED = new Set(["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"]);
export const MIN_RSA_BITS = 2048;

export type KeyParse = { ok: true; key: PublicKey } | { ok: false; reason: string };

/** A cursor over the SSH wire encoding (RFC 4251: uint32 length-prefixed strings). */
export class SshReader {
  private off = 0;
  constructor(private readonly buf: Buffer) {}
  get remaining(): number {
    return this.buf.length - this.off;
  }
  u32(): number {
    if (this.remaining < 4) throw new Error("truncated");
    const v = this.buf.readUInt32BE(this.off);
    this.off += 4;
    return v;
  }
  bytes(): Buffer {
    const n = this.u32();
    if (n > this.remaining) throw new Error("truncated");
    const v = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return v;
  }
  raw(n: number): Buffer {
    if (n > this.remaining) throw new Error("truncated");
    const v = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return v;
  }
  string(): string {
    return this.bytes().toString("latin1");
  }
}

export function sshString(data: Buffer | string): Buffer {
  const b = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

/** OpenSSH fingerprint: "SHA256:" + unpadded base64 of SHA-256 over the key blob. */
export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

const BASE64_RE = /^[A-Za-z0-9+/]+={0,2}$/;

/** Parse an authorized_keys-style line: `type base64 [comment]` (no options). */
export function parseAuthorizedKey(line: string): KeyParse {
  const trimmed = line.trim();
  const parts = trimmed.split(/\s+/);
  const [type, b64] = parts;
  if (!type || !b64) return { ok: false, reason: "expected `<type> <base64> [comment]`" };
  if (type === "ssh-dss") return { ok: false, reason: "DSA keys (ssh-dss) are refused: they are weak and OpenSSH no longer supports them" };
  if (type.startsWith("sk-")) return { ok: false, reason: `security-key type ${type} is not supported yet; use an ed25519 key` };
  if (!ACCEPTED.has(type)) return { ok: false, reason: `unsupported key type ${JSON.stringify(type)}; use ssh-ed25519 (or ecdsa-sha2-nistp256, or ssh-rsa with at least ${MIN_RSA_BITS} bits)` };
  if (!BASE64_RE.test(b64)) return { ok: false, reason: "the key is not valid base64" };
  const blob = Buffer.from(b64, "base64");
  if (blob.toString("base64") !== b64) return { ok: false, reason: "the key is not canonical base64" };
  try {
    const r = new SshReader(blob);
    const inner = r.string();
    if (inner !== type) return { ok: false, reason: `the key says it is ${type} but its data is ${JSON.stringify(inner)}` };
    if (type === "ssh-rsa") {
      r.bytes(); // e
      const n = r.bytes();
      const bits = mpintBits(n);
      if (bits < MIN_RSA_BITS) return { ok: false, reason: `RSA key of ${bits} bits is too weak; at least ${MIN_RSA_BITS} bits are required` };
    } else if (type === "ssh-ed25519") {
      if (r.bytes().length !== 32) return { ok: false, reason: "malformed ed25519 key" };
    } else {
      const curve = r.string();
      if (`ecdsa-sha2-${curve}` !== type) return { ok: false, reason: "ECDSA curve does not match the key type" };
      r.bytes();
    }
    if (r.remaining !== 0) return { ok: false, reason: "trailing data after the key" };
    keyObjectFor({ type, blob: b64, fingerprint: "" });
  } catch {
    return { ok: false, reason: "malformed key data" };
  }
  const comment = parts.slice(2).join(" ") || undefined;
  return { ok: true, key: { type, blob: b64, fingerprint: fingerprintOf(blob), ...(comment ? { comment } : {}) } };
}

function mpintBits(n: Buffer): number {
  let i = 0;
  while (i < n.length && n[i] === 0) i++;
  if (i === n.length) return 0;
  return (n.length - i - 1) * 8 + (32 - Math.clz32(n[i]!));
}

const keyCache = new Map<string, KeyObject>();

/** A node:crypto KeyObject for an SSH public key (cached: verification is on hot paths). */
export function keyObjectFor(key: Pick<PublicKey, "type" | "blob" | "fingerprint">): KeyObject {
  const cached = keyCache.get(key.blob);
  if (cached) return cached;
  const r = new SshReader(Buffer.from(key.blob, "base64"));
  const type = r.string();
  let ko: KeyObject;
  if (type === "ssh-ed25519") {
    ko = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: b64url(r.bytes()) }, format: "jwk" });
  } else if (type === "ssh-rsa") {
    const e = stripMpint(r.bytes());
    const n = stripMpint(r.bytes());
    ko = createPublicKey({ key: { kty: "RSA", e: b64url(e), n: b64url(n) }, format: "jwk" });
  } else if (type.startsWith("ecdsa-sha2-")) {
    const curve = r.string();
    const q = r.bytes();
    const crv = { nistp256: "P-256", nistp384: "P-384", nistp521: "P-521" }[curve];
    if (!crv || q[0] !== 4) throw new Error("unsupported ECDSA key");
    const len = (q.length - 1) / 2;
    ko = createPublicKey({ key: { kty: "EC", crv, x: b64url(q.subarray(1, 1 + len)), y: b64url(q.subarray(1 + len)) }, format: "jwk" });
  } else {
    throw new Error(`unsupported key type ${type}`);
  }
  // Bounded: keys embedded in untrusted signatures pass through here too.
  if (keyCache.size >= 1024) keyCache.clear();
  keyCache.set(key.blob, ko);
  return ko;
}

function stripMpint(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}

function b64url(b: Buffer): string {
  return b.toString("base64url");
}

/** The authorized_keys line for a key (what `ssh-keygen -y` prints). */
export function formatPublicKey(key: PublicKey): string {
  return `${key.type} ${key.blob}${key.comment ? ` ${key.comment}` : ""}`;
}
