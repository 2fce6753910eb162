/**
 * Interoperability with OpenSSH, both ways, for every accepted key type, and the negative cases of
 * SECURITY-CASES A2–A4 checked against guard AND `ssh-keygen -Y verify` as an oracle. Where OpenSSH
 * is laxer (it ignores text after the armor, a second block, the reserved field and version 0), the
 * expectation says so explicitly and guard must be the one that refuses.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadSigner } from "../../src/adapters/signer.js";
import { armor, encodeSshSig, parseSshSig, verifySshSig, type ParsedSshSig } from "../../src/core/sshsig.js";
import { SIG_NAMESPACE } from "../../src/core/types.js";
import { makeIdentity, sshKeygenSign, sshKeygenVerifyDetailed, type AcceptedKeyType, type Identity } from "../helpers/keys.js";
import { forgeSshSig, loadTestPrivateKey, type TestPrivateKey } from "./forge.js";

const NS = SIG_NAMESPACE.approval;
// A realistic message: canonical JSON with non-ASCII text, as approvals carry comments.
const MESSAGE = JSON.stringify({ comment: "ok für prod — ticket #42", decision: "approve", requestId: "r_7Hq2", v: 1 });

let dir: string;
let mallory: Identity;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "guard-sshsig-interop-"));
  mallory = await makeIdentity(dir, "mallory");
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const TYPES: AcceptedKeyType[] = ["ed25519", "ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "rsa-2048"];

interface Ctx {
  alice: Identity;
  bob: Identity;
  priv: TestPrivateKey;
  good: string;
  parsed: ParsedSshSig;
}

interface Case {
  id: string;
  name: string;
  /** Builds the signature, and optionally the message/keys it is checked against. */
  make(c: Ctx): Promise<{ sig: string; message?: string; allowed?: Identity }>;
  guard: RegExp;
  /** What `ssh-keygen -Y verify` does with it: guard must refuse in every row regardless. */
  sshKeygenAccepts: boolean;
  only?: (type: AcceptedKeyType) => boolean;
}

const reencode = (p: ParsedSshSig, patch: Partial<Parameters<typeof encodeSshSig>[0]>) =>
  encodeSshSig({
    version: 1,
    publicKey: Buffer.from(p.publicKey.blob, "base64"),
    namespace: p.namespace,
    reserved: Buffer.alloc(0),
    hashAlgorithm: p.hashAlgorithm,
    signatureType: p.signatureType,
    signatureBytes: p.signatureBytes,
    ...patch,
  });

const CASES: Case[] = [
  {
    id: "A2",
    name: "signed with -n git",
    make: async (c) => ({ sig: await sshKeygenSign({ privatePath: c.alice.privatePath, namespace: "git", message: MESSAGE }) }),
    guard: /namespace is "git", expected "approval@access-guard"/,
    sshKeygenAccepts: false,
  },
  {
    id: "A2",
    name: "signed with -n file",
    make: async (c) => ({ sig: await sshKeygenSign({ privatePath: c.alice.privatePath, namespace: "file", message: MESSAGE }) }),
    guard: /namespace is "file"/,
    sshKeygenAccepts: false,
  },
  {
    id: "A2",
    name: "a request signature offered as an approval",
    make: async (c) => ({ sig: await sshKeygenSign({ privatePath: c.alice.privatePath, namespace: SIG_NAMESPACE.request, message: MESSAGE }) }),
    guard: /namespace is "request@access-guard", expected "approval@access-guard"/,
    sshKeygenAccepts: false,
  },
  {
    id: "A3",
    name: "key not in the policy",
    make: async () => ({ sig: await sshKeygenSign({ privatePath: mallory.privatePath, namespace: NS, message: MESSAGE }) }),
    guard: /signed by SHA256:\S+ \(ssh-ed25519\), which is not a key of alice/,
    sshKeygenAccepts: false,
  },
  {
    id: "A3",
    name: "embedded key swapped for the principal's key (verified with the policy key, not the blob's)",
    make: async (c) => ({ sig: forgeSshSig(c.priv, { message: MESSAGE, namespace: NS, embedKey: Buffer.from(c.bob.key.blob, "base64") }), allowed: c.bob }),
    guard: /does not match the message/,
    sshKeygenAccepts: false,
  },
  {
    id: "A1",
    name: "message altered by one byte",
    make: async (c) => ({ sig: c.good, message: MESSAGE.replace("r_7Hq2", "r_7Hq3") }),
    guard: /does not match the message/,
    sshKeygenAccepts: false,
  },
  {
    id: "A4",
    name: "hash algorithm sha1 (genuinely signed)",
    make: async (c) => ({ sig: forgeSshSig(c.priv, { message: MESSAGE, namespace: NS, hashAlgorithm: "sha1" }) }),
    guard: /hash algorithm "sha1" is refused/,
    sshKeygenAccepts: false,
  },
  {
    id: "A4",
    name: "ssh-rsa (SHA-1) signature type (genuinely signed)",
    make: async (c) => ({ sig: forgeSshSig(c.priv, { message: MESSAGE, namespace: NS, signatureType: "ssh-rsa" }) }),
    guard: /RSA with SHA-1 is refused/,
    sshKeygenAccepts: false,
    only: (t) => t.startsWith("rsa"),
  },
  {
    id: "A4",
    name: "signature type of another algorithm",
    make: async (c) => ({ sig: reencode(c.parsed, { signatureType: "rsa-sha2-512" }) }),
    guard: /signature type "rsa-sha2-512" does not fit/,
    sshKeygenAccepts: false,
    only: (t) => !t.startsWith("rsa"),
  },
  {
    id: "A4",
    name: "version 2 (otherwise valid: the version is not signed)",
    make: async (c) => ({ sig: reencode(c.parsed, { version: 2 }) }),
    guard: /signature version 2 is not supported/,
    sshKeygenAccepts: false,
  },
  {
    id: "A4",
    name: "empty namespace (genuinely signed)",
    make: async (c) => ({ sig: forgeSshSig(c.priv, { message: MESSAGE, namespace: "" }) }),
    guard: /empty namespace/,
    sshKeygenAccepts: false,
  },
  {
    id: "A4",
    name: "trailing bytes inside the blob",
    make: async (c) => ({ sig: armor(Buffer.concat([c.parsed.blob, Buffer.from([0])])) }),
    guard: /trailing bytes/,
    sshKeygenAccepts: false,
  },
  {
    id: "A4",
    name: "trailing garbage after the armor",
    make: async (c) => ({ sig: `${c.good}rm -rf / # approved\n` }),
    guard: /unexpected text after the signature armor/,
    sshKeygenAccepts: true,
  },
  {
    id: "A4",
    name: "two armor blocks",
    make: async (c) => ({ sig: `${c.good}${await sshKeygenSign({ privatePath: mallory.privatePath, namespace: NS, message: MESSAGE })}` }),
    guard: /2 armor blocks found/,
    sshKeygenAccepts: true,
  },
  {
    id: "A4",
    name: "version 0",
    make: async (c) => ({ sig: reencode(c.parsed, { version: 0 }) }),
    guard: /signature version 0 is not supported/,
    sshKeygenAccepts: true,
  },
  {
    id: "A6",
    name: "re-armored with data in the unsigned reserved field",
    make: async (c) => ({ sig: reencode(c.parsed, { reserved: Buffer.from("again") }) }),
    guard: /reserved field is not empty/,
    sshKeygenAccepts: true,
  },
];

describe.each(TYPES)("SSHSIG interop with OpenSSH: %s", (type) => {
  const c = {} as Ctx;
  beforeAll(async () => {
    [c.alice, c.bob] = await Promise.all([makeIdentity(dir, `alice-${type}`, type), makeIdentity(dir, `bob-${type}`, type)]);
    c.priv = await loadTestPrivateKey(c.alice.privatePath);
    c.good = await sshKeygenSign({ privatePath: c.alice.privatePath, namespace: NS, message: MESSAGE });
    const p = parseSshSig(c.good);
    if (!p.ok) throw new Error(p.reason);
    c.parsed = p.sig;
  });

  it("ssh-keygen -Y sign → guard verifies, naming the allowed key", () => {
    const res = verifySshSig(c.good, MESSAGE, NS, [mallory.key, c.alice.key], "the approvers");
    expect(res).toEqual({ ok: true, key: c.alice.key });
    expect(c.parsed.publicKey.fingerprint).toBe(c.alice.fingerprint);
    if (type.startsWith("rsa")) expect(c.parsed.signatureType).toBe("rsa-sha2-512");
  });

  it("guard's signer (ssh-keygen -Y sign from stdin) → ssh-keygen -Y verify accepts, and so does guard", async () => {
    const signer = await loadSigner({ setting: c.alice.privatePath, env: { PATH: process.env.PATH }, home: dir, interactive: false });
    expect(signer.publicKey.blob).toBe(c.alice.key.blob);
    const sig = await signer.sign(MESSAGE, NS);
    expect(await sshKeygenVerifyDetailed({ message: MESSAGE, signature: sig, namespace: NS, principal: "alice", publicLine: c.alice.publicLine })).toMatchObject({ ok: true });
    expect(verifySshSig(sig, MESSAGE, NS, [c.alice.key]).ok).toBe(true);
    // The same bytes as a Uint8Array verify too (the message is hashed as bytes, never re-encoded).
    expect(verifySshSig(sig, new TextEncoder().encode(MESSAGE), NS, [c.alice.key]).ok).toBe(true);
  });

  it("positive control: a forged signature with standard fields passes both (so the negative rows test the rule)", async () => {
    const sig = forgeSshSig(c.priv, { message: MESSAGE, namespace: NS, hashAlgorithm: "sha256", ...(type.startsWith("rsa") ? { signatureType: "rsa-sha2-256" } : {}) });
    expect(verifySshSig(sig, MESSAGE, NS, [c.alice.key]).ok).toBe(true);
    expect((await sshKeygenVerifyDetailed({ message: MESSAGE, signature: sig, namespace: NS, principal: "alice", publicLine: c.alice.publicLine })).ok).toBe(true);
  });

  const rows = CASES.filter((k) => !k.only || k.only(type));
  it.each(rows)("$id: $name — guard refuses; ssh-keygen accepts: $sshKeygenAccepts", async (row) => {
    const made = await row.make(c);
    const message = made.message ?? MESSAGE;
    const who = made.allowed ?? c.alice;
    const res = verifySshSig(made.sig, message, NS, [who.key], who === c.alice ? "alice" : "bob");
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.reason).toMatch(row.guard);
    const oracle = await sshKeygenVerifyDetailed({ message, signature: made.sig, namespace: NS, principal: "p", publicLine: who.publicLine });
    expect(oracle.ok, oracle.output).toBe(row.sshKeygenAccepts);
  });

  it("A4: empty namespace is refused even when asked to verify against an empty namespace", () => {
    const sig = forgeSshSig(c.priv, { message: MESSAGE, namespace: "" });
    expect(verifySshSig(sig, MESSAGE, "", [c.alice.key]).ok).toBe(false);
  });
});
