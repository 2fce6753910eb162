/**
 * Build SSHSIG signatures with *genuine* cryptography over fields OpenSSH would never emit (sha1,
 * ssh-rsa, empty namespace, reserved data, version 2). Negative tests then prove the refusal comes
 * from the rule being checked, not from a broken signature. Reads unencrypted "openssh-key-v1"
 * private keys made by ssh-keygen in the test's temp dir; test-only code.
 */
import { createHash, createPrivateKey, sign, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import { SshReader, sshString } from "../../src/core/sshkey.js";
import { encodeSshSig } from "../../src/core/sshsig.js";

export interface TestPrivateKey {
  type: string;
  publicBlob: Buffer;
  key: KeyObject;
}

export async function loadTestPrivateKey(path: string): Promise<TestPrivateKey> {
  const text = await readFile(path, "utf8");
  const b64 = text.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, "");
  const blob = Buffer.from(b64, "base64");
  const magic = "openssh-key-v1\0";
  if (blob.subarray(0, magic.length).toString("latin1") !== magic) throw new Error("not an openssh-key-v1 key");
  const r = new SshReader(blob.subarray(magic.length));
  if (r.string() !== "none") throw new Error("encrypted keys are not supported here");
  r.bytes();
  r.bytes();
  if (r.u32() !== 1) throw new Error("expected one key");
  const publicBlob = r.bytes();
  const p = new SshReader(r.bytes());
  if (p.u32() !== p.u32()) throw new Error("check bytes differ");
  const type = p.string();
  const u = (b: Buffer) => b.toString("base64url");
  const strip = (b: Buffer) => (b.length > 1 && b[0] === 0 ? b.subarray(1) : b);
  let jwk: Record<string, string>;
  if (type === "ssh-ed25519") {
    const pub = p.bytes();
    const priv = p.bytes();
    jwk = { kty: "OKP", crv: "Ed25519", x: u(pub), d: u(priv.subarray(0, 32)) };
  } else if (type.startsWith("ecdsa-sha2-")) {
    const curve = p.string();
    const q = p.bytes();
    const size = (q.length - 1) / 2;
    const d = strip(p.bytes());
    const crv = { nistp256: "P-256", nistp384: "P-384", nistp521: "P-521" }[curve]!;
    jwk = { kty: "EC", crv, x: u(q.subarray(1, 1 + size)), y: u(q.subarray(1 + size)), d: u(Buffer.concat([Buffer.alloc(size - d.length), d])) };
  } else if (type === "ssh-rsa") {
    const [n, e, d, iqmp, pp, qq] = [0, 1, 2, 3, 4, 5].map(() => strip(p.bytes())) as [Buffer, Buffer, Buffer, Buffer, Buffer, Buffer];
    const big = (b: Buffer) => BigInt(`0x${b.toString("hex")}`);
    const buf = (v: bigint) => {
      const h = v.toString(16);
      return Buffer.from(h.length % 2 ? `0${h}` : h, "hex");
    };
    const dp = big(d) % (big(pp) - 1n);
    const dq = big(d) % (big(qq) - 1n);
    jwk = { kty: "RSA", n: u(n), e: u(e), d: u(d), p: u(pp), q: u(qq), dp: u(buf(dp)), dq: u(buf(dq)), qi: u(iqmp) };
  } else {
    throw new Error(`unsupported ${type}`);
  }
  return { type, publicBlob, key: createPrivateKey({ key: jwk, format: "jwk" }) };
}

export interface ForgeOptions {
  message: string | Uint8Array;
  namespace: string;
  /** Default sha512, as ssh-keygen. */
  hashAlgorithm?: string;
  version?: number;
  reserved?: Buffer;
  /** Default: what ssh-keygen uses for the key type (rsa-sha2-512 for RSA). */
  signatureType?: string;
  /** Embed another key blob than the signer's (A3). */
  embedKey?: Buffer;
}

/** A cryptographically valid signature over exactly the fields given. */
export function forgeSshSig(k: TestPrivateKey, o: ForgeOptions): string {
  const hashAlgorithm = o.hashAlgorithm ?? "sha512";
  const reserved = o.reserved ?? Buffer.alloc(0);
  const digest = createHash(hashAlgorithm).update(o.message).digest();
  const data = Buffer.concat([Buffer.from("SSHSIG"), sshString(o.namespace), sshString(reserved), sshString(hashAlgorithm), sshString(digest)]);
  const signatureType = o.signatureType ?? (k.type === "ssh-rsa" ? "rsa-sha2-512" : k.type);
  let bytes: Buffer;
  if (k.type === "ssh-ed25519") {
    bytes = sign(null, data, k.key);
  } else if (k.type === "ssh-rsa") {
    const h = { "ssh-rsa": "sha1", "rsa-sha2-256": "sha256", "rsa-sha2-512": "sha512" }[signatureType] ?? "sha512";
    bytes = sign(h, data, k.key);
  } else {
    const h = { "ecdsa-sha2-nistp256": "sha256", "ecdsa-sha2-nistp384": "sha384", "ecdsa-sha2-nistp521": "sha512" }[k.type]!;
    const rs = sign(h, data, { key: k.key, dsaEncoding: "ieee-p1363" });
    const half = rs.length / 2;
    bytes = Buffer.concat([sshString(mpint(rs.subarray(0, half))), sshString(mpint(rs.subarray(half)))]);
  }
  return encodeSshSig({
    version: o.version ?? 1,
    publicKey: o.embedKey ?? k.publicBlob,
    namespace: o.namespace,
    reserved,
    hashAlgorithm,
    signatureType,
    signatureBytes: bytes,
  });
}

function mpint(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const v = b.subarray(i);
  return v[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v;
}
