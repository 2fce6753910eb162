/**
 * Table tests for the pure SSHSIG parser and verifier: armor strictness, structural checks, every
 * single-bit flip of a real signature, and the verification time budget. The seed signatures come
 * from the real ssh-keygen.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sshString } from "../../src/core/sshkey.js";
import { armor, encodeSshSig, parseSshSig, verifySshSig, type ParsedSshSig, type SshSigFields } from "../../src/core/sshsig.js";
import { makeIdentity, sshKeygenSign, type Identity } from "../helpers/keys.js";

const NS = "request@access-guard";
const MESSAGE = '{"argv":["scripts/purge-lb-state.sh","--all"],"v":1}';

let dir: string;
let ed: Identity;
let ec: Identity;
let good: string;
let parsed: ParsedSshSig;
let ecGood: string;
let ecParsed: ParsedSshSig;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "guard-sshsig-parse-"));
  [ed, ec] = await Promise.all([makeIdentity(dir, "alice"), makeIdentity(dir, "carol", "ecdsa-p256")]);
  [good, ecGood] = await Promise.all([
    sshKeygenSign({ privatePath: ed.privatePath, namespace: NS, message: MESSAGE }),
    sshKeygenSign({ privatePath: ec.privatePath, namespace: NS, message: MESSAGE }),
  ]);
  parsed = mustParse(good);
  ecParsed = mustParse(ecGood);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function mustParse(s: string): ParsedSshSig {
  const p = parseSshSig(s);
  if (!p.ok) throw new Error(p.reason);
  return p.sig;
}

function fieldsOf(p: ParsedSshSig): SshSigFields {
  return {
    version: 1,
    publicKey: Buffer.from(p.publicKey.blob, "base64"),
    namespace: p.namespace,
    reserved: Buffer.alloc(0),
    hashAlgorithm: p.hashAlgorithm,
    signatureType: p.signatureType,
    signatureBytes: p.signatureBytes,
  };
}

const body = (s: string) => s.trim().split("\n").slice(1, -1);

describe("parseSshSig: the armor", () => {
  const rows: Array<{ id: string; name: string; make: () => string; reason: RegExp }> = [
    { id: "A4", name: "empty input", make: () => "", reason: /no "-----BEGIN SSH SIGNATURE-----" armor/ },
    { id: "A4", name: "text before the armor", make: () => `Signature:\n${good}`, reason: /text before/ },
    { id: "A4", name: "text after the armor", make: () => `${good}\n{"decision":"allow"}`, reason: /text after/ },
    { id: "A4", name: "two armor blocks", make: () => good + good, reason: /2 armor blocks/ },
    { id: "A4", name: "missing END line", make: () => good.replace("-----END SSH SIGNATURE-----", ""), reason: /missing "-----END/ },
    { id: "A4", name: "blank line in the body", make: () => good.replace(/\n(?=[^\n]*\n-----END)/, "\n\n"), reason: /not base64/ },
    { id: "A4", name: "spaces inside a base64 line", make: () => good.replace(/\n(.{10})/, "\n$1 "), reason: /not base64/ },
    { id: "A4", name: "BEGIN line not on its own line", make: () => good.replace("-----\n", "-----"), reason: /own lines|not base64/ },
    {
      id: "A4",
      name: "non-canonical base64 (padding bits set)",
      make: () => {
        const lines = body(good);
        const last = lines[lines.length - 1]!;
        // The blob's length leaves padding; set the unused low bits of the last data character.
        const i = last.replace(/=+$/, "").length - 1;
        const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        lines[lines.length - 1] = last.slice(0, i) + alphabet[alphabet.indexOf(last[i]!) | 1] + last.slice(i + 1);
        return `-----BEGIN SSH SIGNATURE-----\n${lines.join("\n")}\n-----END SSH SIGNATURE-----\n`;
      },
      reason: /not canonical base64/,
    },
    { id: "A4", name: "oversized input", make: () => good + " ".repeat(70_000), reason: /too large/ },
  ];
  it.each(rows)("$id: $name is refused", ({ make, reason }) => {
    const res = parseSshSig(make());
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.reason).toMatch(reason);
  });

  it("whitespace around the armor, CRLF line ends and other line widths give the same blob", () => {
    const b64 = parsed.blob.toString("base64");
    const variants = [
      `\n  ${good}\n\n`,
      good.replace(/\n/g, "\r\n"),
      `-----BEGIN SSH SIGNATURE-----\n${b64.match(/.{1,64}/g)!.join("\n")}\n-----END SSH SIGNATURE-----`,
    ];
    for (const v of variants) expect(mustParse(v).blob.equals(parsed.blob)).toBe(true);
  });

  it("a real ssh-keygen signature parses to its fields", () => {
    expect(parsed).toMatchObject({ namespace: NS, hashAlgorithm: "sha512", signatureType: "ssh-ed25519" });
    expect(parsed.publicKey.blob).toBe(ed.key.blob);
    expect(parsed.signatureBytes.length).toBe(64);
  });
});

describe("parseSshSig: the blob", () => {
  const rows: Array<{ id: string; name: string; make: () => string; reason: RegExp }> = [
    { id: "A4", name: "wrong magic", make: () => armor(Buffer.concat([Buffer.from("SSHSIH"), parsed.blob.subarray(6)])), reason: /magic/ },
    { id: "A4", name: "truncated blob", make: () => armor(parsed.blob.subarray(0, parsed.blob.length - 5)), reason: /truncated/ },
    { id: "A4", name: "trailing bytes in the blob", make: () => armor(Buffer.concat([parsed.blob, Buffer.alloc(3)])), reason: /3 unexpected trailing bytes/ },
    { id: "A4", name: "version 2", make: () => encodeSshSig({ ...fieldsOf(parsed), version: 2 }), reason: /version 2 is not supported/ },
    { id: "A4", name: "version 0xffffffff", make: () => encodeSshSig({ ...fieldsOf(parsed), version: 0xffffffff }), reason: /version 4294967295/ },
    { id: "A4", name: "empty namespace", make: () => encodeSshSig({ ...fieldsOf(parsed), namespace: "" }), reason: /empty namespace/ },
    { id: "A4", name: "namespace with NUL", make: () => encodeSshSig({ ...fieldsOf(parsed), namespace: `${NS}\0git` }), reason: /namespace is not valid text/ },
    { id: "A4", name: "namespace not UTF-8", make: () => encodeSshSig({ ...fieldsOf(parsed), namespace: Buffer.from([0xff, 0xfe]) }), reason: /namespace is not valid text/ },
    { id: "A4", name: "hash sha1", make: () => encodeSshSig({ ...fieldsOf(parsed), hashAlgorithm: "sha1" }), reason: /"sha1" is refused/ },
    { id: "A4", name: "hash SHA512 (case matters)", make: () => encodeSshSig({ ...fieldsOf(parsed), hashAlgorithm: "SHA512" }), reason: /"SHA512" is refused/ },
    { id: "A6", name: "non-empty reserved", make: () => encodeSshSig({ ...fieldsOf(parsed), reserved: Buffer.from([1]) }), reason: /reserved/ },
    { id: "A4", name: "ssh-rsa type on an ed25519 key", make: () => encodeSshSig({ ...fieldsOf(parsed), signatureType: "ssh-rsa" }), reason: /does not fit a ssh-ed25519 key/ },
    { id: "A4", name: "ed25519 signature of 63 bytes", make: () => encodeSshSig({ ...fieldsOf(parsed), signatureBytes: parsed.signatureBytes.subarray(1) }), reason: /expected 64 bytes/ },
    {
      id: "A4",
      name: "trailing bytes after the signature value",
      make: () => {
        const f = fieldsOf(parsed);
        const inner = Buffer.concat([sshString(f.signatureType), sshString(f.signatureBytes), Buffer.from([0])]);
        const v = Buffer.alloc(4);
        v.writeUInt32BE(1);
        return armor(Buffer.concat([Buffer.from("SSHSIG"), v, sshString(f.publicKey), sshString(NS), sshString(""), sshString("sha512"), sshString(inner)]));
      },
      reason: /trailing bytes after the signature value/,
    },
    {
      id: "P13",
      name: "embedded DSA key",
      make: () => encodeSshSig({ ...fieldsOf(parsed), publicKey: Buffer.concat([sshString("ssh-dss"), sshString(Buffer.alloc(20, 1))]) }),
      reason: /signing key is refused: DSA/,
    },
    {
      id: "A4",
      name: "embedded certificate-type key",
      make: () => encodeSshSig({ ...fieldsOf(parsed), publicKey: Buffer.concat([sshString("ssh-ed25519-cert-v01@openssh.com"), sshString(Buffer.alloc(32))]) }),
      reason: /signing key is refused: unsupported key type/,
    },
  ];
  it.each(rows)("$id: $name is refused", ({ make, reason }) => {
    const res = parseSshSig(make());
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.reason).toMatch(reason);
  });

  // ECDSA's r and s are SSH mpints: anything but a positive minimal integer that fits the curve is refused.
  const mp = (...parts: Buffer[]) => Buffer.concat(parts.map((p) => sshString(p)));
  const ecRows: Array<{ name: string; bytes: () => Buffer }> = [
    { name: "negative r", bytes: () => mp(Buffer.from([0x80, 1]), Buffer.from([1])) },
    { name: "zero-length s", bytes: () => mp(Buffer.from([1]), Buffer.alloc(0)) },
    { name: "non-minimal r (needless leading zero)", bytes: () => mp(Buffer.from([0, 1]), Buffer.from([1])) },
    { name: "r longer than the curve", bytes: () => mp(Buffer.alloc(33, 1), Buffer.from([1])) },
    { name: "a third integer", bytes: () => mp(Buffer.from([1]), Buffer.from([1]), Buffer.from([1])) },
  ];
  it.each(ecRows)("A4: ECDSA signature with $name is refused", ({ bytes }) => {
    const res = parseSshSig(encodeSshSig({ ...fieldsOf(ecParsed), signatureBytes: bytes() }));
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.reason).toMatch(/malformed ECDSA signature/);
  });
});

describe("verifySshSig", () => {
  it("A3: an empty allow-list verifies nothing", () => {
    const res = verifySshSig(good, MESSAGE, NS, []);
    expect(res).toEqual({ ok: false, reason: expect.stringMatching(/which is not a key of anyone/) });
  });

  it("A3: names the signer's fingerprint and the expected owner", () => {
    const res = verifySshSig(good, MESSAGE, NS, [ec.key], "bob");
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.reason).toBe(`signed by ${ed.fingerprint} (ssh-ed25519), which is not a key of bob`);
  });

  it("A2: the namespace must match exactly (no prefix, case or whitespace games)", () => {
    for (const ns of ["request@access-guar", "REQUEST@access-guard", `${NS} `, "", "approval@access-guard"]) {
      expect(verifySshSig(good, MESSAGE, ns, [ed.key]).ok).toBe(false);
    }
    expect(verifySshSig(good, MESSAGE, NS, [ed.key]).ok).toBe(true);
  });

  it("A1: every single-bit flip of the signature blob is refused", () => {
    let accepted = 0;
    for (let i = 0; i < parsed.blob.length * 8; i++) {
      const b = Buffer.from(parsed.blob);
      b[i >> 3]! ^= 1 << (i & 7);
      if (verifySshSig(armor(b), MESSAGE, NS, [ed.key]).ok) accepted++;
    }
    expect(accepted).toBe(0);
  });

  it("A1: every single-bit flip of the message is refused", () => {
    const m = Buffer.from(MESSAGE);
    for (let i = 0; i < m.length * 8; i++) {
      const b = Buffer.from(m);
      b[i >> 3]! ^= 1 << (i & 7);
      expect(verifySshSig(good, b, NS, [ed.key]).ok).toBe(false);
    }
  });

  it("garbage never throws: it is a refusal", () => {
    for (const s of ["-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----", "-----BEGIN SSH SIGNATURE-----\n-----END SSH SIGNATURE-----", "\u0000", "x".repeat(1000)]) {
      expect(verifySshSig(s, MESSAGE, NS, [ed.key]).ok).toBe(false);
    }
    expect(verifySshSig(undefined as unknown as string, MESSAGE, NS, [ed.key]).ok).toBe(false);
  });
});
