import { createHash, constants, verify } from "node:crypto";
import { fingerprintOf, keyObjectFor, parseAuthorizedKey, SshReader, sshString } from "./sshkey.js";
import type { PublicKey } from "./types.js";

/**
 * SSHSIG (OpenSSH PROTOCOL.sshsig): parse and verify in process, so that verifying an approval never
 * spawns ssh-keygen. Parsing is stricter than OpenSSH's own: anything OpenSSH would ignore (text after
 * the armor, a second block, a non-empty reserved field, version 0, non-canonical base64) is refused,
 * because every byte we tolerate is a byte someone can vary to make one signature look like two.
 */

const MAGIC = Buffer.from("SSHSIG", "latin1");
const BEGIN = "-----BEGIN SSH SIGNATURE-----";
const END = "-----END SSH SIGNATURE-----";
export const SSHSIG_VERSION = 1;
/** Far above any real signature (RSA-16384 is ~5 KiB armored); refuse before doing any work. */
const MAX_ARMORED = 64 * 1024;
const BASE64_LINE_RE = /^[A-Za-z0-9+/=]+$/;

export type SshSigHash = "sha256" | "sha512";

export interface ParsedSshSig {
  /** The key embedded in the signature: a claim only, never trusted on its own (A3). */
  publicKey: PublicKey;
  namespace: string;
  hashAlgorithm: SshSigHash;
  /** e.g. "ssh-ed25519", "rsa-sha2-512", "ecdsa-sha2-nistp256". */
  signatureType: string;
  /** The algorithm-specific signature bytes (ECDSA: still the SSH `mpint r | mpint s` encoding). */
  signatureBytes: Buffer;
  /** The decoded binary blob: identical for two armorings of the same signature. */
  blob: Buffer;
}

export type SshSigParse = { ok: true; sig: ParsedSshSig } | { ok: false; reason: string };
export type SshSigVerify = { ok: true; key: PublicKey } | { ok: false; reason: string };

/** Which signature types a key type may carry; ssh-rsa (SHA-1) is deliberately absent (A4). */
const SIG_TYPES: Record<string, readonly string[]> = {
  "ssh-ed25519": ["ssh-ed25519"],
  "ecdsa-sha2-nistp256": ["ecdsa-sha2-nistp256"],
  "ecdsa-sha2-nistp384": ["ecdsa-sha2-nistp384"],
  "ecdsa-sha2-nistp521": ["ecdsa-sha2-nistp521"],
  "ssh-rsa": ["rsa-sha2-256", "rsa-sha2-512"],
};

/** ECDSA: digest per curve (RFC 5656) and the byte length of r and s. */
const ECDSA: Record<string, { hash: string; size: number }> = {
  "ecdsa-sha2-nistp256": { hash: "sha256", size: 32 },
  "ecdsa-sha2-nistp384": { hash: "sha384", size: 48 },
  "ecdsa-sha2-nistp521": { hash: "sha512", size: 66 },
};

/** Made on first use: a TextDecoder costs start-up time that `guard run` without an approval never needs. */
let utf8: InstanceType<typeof TextDecoder> | undefined;

export function parseSshSig(armored: string): SshSigParse {
  if (typeof armored !== "string") return fail("the signature is not text");
  if (armored.length > MAX_ARMORED) return fail(`the signature is too large (${armored.length} characters)`);
  const blocks = armored.split(BEGIN).length - 1;
  if (blocks === 0) return fail(`no "${BEGIN}" armor found`);
  if (blocks > 1) return fail(`${blocks} armor blocks found; exactly one signature is expected`);
  const text = armored.trim();
  if (!text.startsWith(BEGIN)) return fail("unexpected text before the signature armor");
  if (!text.endsWith(END)) {
    return text.includes(END) ? fail("unexpected text after the signature armor") : fail(`missing "${END}" line`);
  }
  const lines = text.split(/\r?\n/);
  if (lines.length < 3 || lines[0] !== BEGIN || lines[lines.length - 1] !== END) {
    return fail("the armor lines must stand on their own lines");
  }
  const body = lines.slice(1, -1);
  if (!body.every((l) => BASE64_LINE_RE.test(l))) return fail("the signature body is not base64 (unexpected characters or blank lines)");
  const b64 = body.join("");
  const blob = Buffer.from(b64, "base64");
  if (blob.length === 0 || blob.toString("base64") !== b64) return fail("the signature body is not canonical base64");
  return parseBlob(blob);
}

function parseBlob(blob: Buffer): SshSigParse {
  let fields: { version: number; key: Buffer; ns: Buffer; reserved: Buffer; hash: Buffer; sig: Buffer };
  try {
    const r = new SshReader(blob);
    if (!r.raw(MAGIC.length).equals(MAGIC)) return fail('not an SSH signature (missing "SSHSIG" magic)');
    fields = { version: r.u32(), key: r.bytes(), ns: r.bytes(), reserved: r.bytes(), hash: r.bytes(), sig: r.bytes() };
    if (r.remaining !== 0) return fail(`${r.remaining} unexpected trailing bytes inside the signature`);
  } catch {
    return fail("the signature is truncated or malformed");
  }
  if (fields.version !== SSHSIG_VERSION) {
    return fail(`signature version ${fields.version} is not supported (only version ${SSHSIG_VERSION})`);
  }
  const namespace = decodeText(fields.ns);
  if (namespace === null) return fail("the signature namespace is not valid text");
  if (namespace === "") return fail("the signature has an empty namespace");
  if (fields.reserved.length !== 0) return fail("the signature's reserved field is not empty");
  const hashAlgorithm = decodeText(fields.hash);
  if (hashAlgorithm !== "sha256" && hashAlgorithm !== "sha512") {
    return fail(`hash algorithm ${JSON.stringify(hashAlgorithm ?? "?")} is refused (only sha256 and sha512)`);
  }

  const keyType = readType(fields.key);
  if (keyType === null) return fail("the embedded public key is malformed");
  const parsedKey = parseAuthorizedKey(`${keyType} ${fields.key.toString("base64")}`);
  if (!parsedKey.ok) return fail(`the signing key is refused: ${parsedKey.reason}`);

  let signatureType: string;
  let signatureBytes: Buffer;
  try {
    const r = new SshReader(fields.sig);
    signatureType = r.string();
    signatureBytes = r.bytes();
    if (r.remaining !== 0) return fail("trailing bytes after the signature value");
  } catch {
    return fail("the signature value is truncated or malformed");
  }
  const allowed = SIG_TYPES[keyType] ?? [];
  if (!allowed.includes(signatureType)) {
    const why = signatureType === "ssh-rsa" ? " (RSA with SHA-1 is refused; sign with rsa-sha2-256 or rsa-sha2-512)" : "";
    return fail(`signature type ${JSON.stringify(signatureType)} does not fit a ${keyType} key${why}`);
  }
  const shape = checkSignatureShape(keyType, signatureBytes);
  if (shape) return fail(shape);

  return {
    ok: true,
    sig: { publicKey: parsedKey.key, namespace, hashAlgorithm, signatureType, signatureBytes, blob },
  };
}

/**
 * Verify an armored SSHSIG over `message` for `namespace`, made by one of `allowedKeys`.
 * `signers` only names the owner of allowedKeys in messages ("alice", "the approvers of …").
 */
export function verifySshSig(
  armored: string,
  message: string | Uint8Array,
  namespace: string,
  allowedKeys: readonly PublicKey[],
  signers?: string,
): SshSigVerify {
  if (namespace === "") return fail("no namespace to verify against");
  const parsed = parseSshSig(armored);
  if (!parsed.ok) return parsed;
  const sig = parsed.sig;
  if (sig.namespace !== namespace) {
    return fail(`the signature's namespace is ${JSON.stringify(sig.namespace)}, expected ${JSON.stringify(namespace)}`);
  }
  const embedded = Buffer.from(sig.publicKey.blob, "base64");
  // A3: the embedded key is only a pointer; membership is by exact blob bytes, and the key that
  // verifies is the allowed one, so a signature can never vouch for itself.
  const key = allowedKeys.find((k) => Buffer.from(k.blob, "base64").equals(embedded));
  if (!key) {
    const whose = signers ?? (allowedKeys.length === 0 ? "anyone (no keys are allowed)" : `the ${allowedKeys.length} allowed key(s)`);
    return fail(`signed by ${fingerprintOf(embedded)} (${sig.publicKey.type}), which is not a key of ${whose}`);
  }
  const data = signedData(namespace, sig.hashAlgorithm, message);
  let good: boolean;
  try {
    good = verifyRaw(key, sig, data);
  } catch {
    good = false;
  }
  return good ? { ok: true, key } : fail(`the signature by ${key.fingerprint} does not match the message (altered, or signed over something else)`);
}

/** What the key actually signs: MAGIC | string namespace | string reserved | string hashalg | string H(message). */
export function signedData(namespace: string, hashAlgorithm: SshSigHash, message: string | Uint8Array): Buffer {
  const digest = createHash(hashAlgorithm).update(message).digest();
  return Buffer.concat([MAGIC, sshString(namespace), sshString(Buffer.alloc(0)), sshString(hashAlgorithm), sshString(digest)]);
}

function verifyRaw(key: PublicKey, sig: ParsedSshSig, data: Buffer): boolean {
  const ko = keyObjectFor(key);
  switch (sig.signatureType) {
    case "ssh-ed25519":
      return verify(null, data, ko, sig.signatureBytes);
    case "rsa-sha2-256":
    case "rsa-sha2-512": {
      // OpenSSH accepts a signature shorter than the modulus and left-pads it; OpenSSL wants full length.
      const modBytes = Math.ceil((ko.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
      if (sig.signatureBytes.length > modBytes) return false;
      const padded = Buffer.concat([Buffer.alloc(modBytes - sig.signatureBytes.length), sig.signatureBytes]);
      const hash = sig.signatureType === "rsa-sha2-256" ? "sha256" : "sha512";
      return verify(hash, data, { key: ko, padding: constants.RSA_PKCS1_PADDING }, padded);
    }
    default: {
      const curve = ECDSA[sig.signatureType];
      if (!curve) return false;
      const rs = ecdsaFixed(sig.signatureBytes, curve.size);
      if (!rs) return false;
      return verify(curve.hash, data, { key: ko, dsaEncoding: "ieee-p1363" }, rs);
    }
  }
}

/** Structural checks on the signature value, so malformed input never reaches OpenSSL. */
function checkSignatureShape(keyType: string, bytes: Buffer): string | null {
  if (keyType === "ssh-ed25519") return bytes.length === 64 ? null : "malformed ed25519 signature (expected 64 bytes)";
  if (keyType === "ssh-rsa") return bytes.length > 0 ? null : "empty RSA signature";
  const curve = ECDSA[keyType];
  if (!curve || !ecdsaFixed(bytes, curve.size)) return "malformed ECDSA signature";
  return null;
}

/** SSH `mpint r | mpint s` to fixed-width r||s; null unless both are positive minimal mpints that fit. */
function ecdsaFixed(bytes: Buffer, size: number): Buffer | null {
  try {
    const r = new SshReader(bytes);
    const parts = [r.bytes(), r.bytes()];
    if (r.remaining !== 0) return null;
    const out = Buffer.alloc(size * 2);
    for (const [i, m] of parts.entries()) {
      if (m.length === 0 || (m[0]! & 0x80) !== 0) return null; // zero or negative
      if (m.length > 1 && m[0] === 0 && (m[1]! & 0x80) === 0) return null; // non-minimal
      const v = m[0] === 0 ? m.subarray(1) : m;
      if (v.length > size) return null;
      v.copy(out, size * (i + 1) - v.length);
    }
    return out;
  } catch {
    return null;
  }
}

function readType(keyBlob: Buffer): string | null {
  try {
    const t = decodeText(new SshReader(keyBlob).bytes());
    return t && /^[a-z0-9@.-]+$/.test(t) ? t : null;
  } catch {
    return null;
  }
}

function decodeText(b: Buffer): string | null {
  try {
    const s = (utf8 ??= new TextDecoder("utf-8", { fatal: true })).decode(b);
    return s.includes("\0") ? null : s;
  } catch {
    return null;
  }
}

function fail(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}

export interface SshSigFields {
  version: number;
  /** The public key blob (SSH wire encoding). */
  publicKey: Buffer;
  namespace: string | Buffer;
  reserved: Buffer;
  hashAlgorithm: string;
  signatureType: string;
  signatureBytes: Buffer;
}

/**
 * Encode fields as an armored SSHSIG exactly as OpenSSH lays it out (70-column base64). Used to build
 * signatures in tests, including deliberately malformed ones; it does not check what it encodes.
 */
export function encodeSshSig(f: SshSigFields): string {
  const version = Buffer.alloc(4);
  version.writeUInt32BE(f.version);
  const sig = Buffer.concat([sshString(f.signatureType), sshString(f.signatureBytes)]);
  const blob = Buffer.concat([MAGIC, version, sshString(f.publicKey), sshString(f.namespace), sshString(f.reserved), sshString(f.hashAlgorithm), sshString(sig)]);
  return armor(blob);
}

/** Armor a raw blob (OpenSSH wraps at 70 columns and ends with a newline). */
export function armor(blob: Buffer): string {
  const b64 = blob.toString("base64");
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 70) lines.push(b64.slice(i, i + 70));
  return `${BEGIN}\n${lines.join("\n")}\n${END}\n`;
}
