/**
 * The signer against the real ssh-keygen and a real ssh-agent: agent-only keys, passphrases without
 * a terminal (fail fast, never hang), and the in-process check that catches a signature by the wrong key.
 */
import { chmod, copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadSigner, type SignerOptions } from "../../src/adapters/signer.js";
import { GuardError } from "../../src/core/errors.js";
import { verifySshSig } from "../../src/core/sshsig.js";
import { SIG_NAMESPACE } from "../../src/core/types.js";
import { makeIdentity, run, startAgent, sshKeygenVerify, type Agent, type Identity } from "../helpers/keys.js";

const NS = SIG_NAMESPACE.request;
const MESSAGE = '{"argv":["psql","-c","DROP TABLE lb_state"],"v":1}';
const PATH = process.env.PATH ?? "/usr/bin:/bin";

let dir: string;
let alice: Identity;
let bob: Identity;
let locked: Identity;
let agent: Agent;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "guard-signer-"));
  [alice, bob, locked] = await Promise.all([
    makeIdentity(dir, "alice"),
    makeIdentity(dir, "bob"),
    makeIdentity(dir, "locked", "ed25519", { passphrase: "correct horse" }),
  ]);
  agent = await startAgent();
});
afterAll(async () => {
  await agent?.stop();
  await rm(dir, { recursive: true, force: true });
});

const opts = (setting: string, env: SignerOptions["env"] = { PATH }): SignerOptions => ({ setting, source: "flag", env, home: dir, interactive: false });

async function expectGuardError(p: Promise<unknown>, exitCode: number, message: RegExp): Promise<GuardError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(GuardError);
  expect((e as GuardError).exitCode).toBe(exitCode);
  expect((e as GuardError).message).toMatch(message);
  return e as GuardError;
}

/** A copy of a public key alone in a directory, so ssh-keygen cannot find the private half next to it. */
async function lonePublicKey(id: Identity): Promise<string> {
  const d = join(dir, `pub-only-${id.name}`);
  await mkdir(d, { recursive: true });
  const p = join(d, `${id.name}.pub`);
  await copyFile(id.publicPath, p);
  return p;
}

describe("signing with a private key file", () => {
  it("signs, verifies in process and with ssh-keygen; whoami data is exposed", async () => {
    const signer = await loadSigner(opts(alice.privatePath));
    expect(signer).toMatchObject({ keyPath: alice.privatePath, source: "flag", agentOnly: false });
    expect(signer.publicKey.fingerprint).toBe(alice.fingerprint);
    const sig = await signer.sign(MESSAGE, NS);
    expect(verifySshSig(sig, MESSAGE, NS, [alice.key]).ok).toBe(true);
    expect(await sshKeygenVerify({ message: MESSAGE, signature: sig, namespace: NS, principal: "alice", publicLine: alice.publicLine })).toBe(true);
  });

  it("a .pub path with its private key beside it signs without an agent (as ssh-keygen does)", async () => {
    const signer = await loadSigner(opts(alice.publicPath));
    expect(signer.agentOnly).toBe(false);
    expect(verifySshSig(await signer.sign(MESSAGE, NS), MESSAGE, NS, [alice.key]).ok).toBe(true);
  });

  it("signs binary messages byte-exactly", async () => {
    const signer = await loadSigner(opts(alice.privatePath));
    const bytes = new Uint8Array([0, 255, 10, 13, 0xc3, 0x28]);
    const sig = await signer.sign(bytes, NS);
    expect(verifySshSig(sig, bytes, NS, [alice.key]).ok).toBe(true);
    expect(await sshKeygenVerify({ message: bytes, signature: sig, namespace: NS, principal: "alice", publicLine: alice.publicLine })).toBe(true);
  });

  it("a passphrase-protected key without a terminal fails fast with exit 78 and says what to do", async () => {
    const signer = await loadSigner(opts(locked.privatePath));
    const t0 = Date.now();
    const e = await expectGuardError(signer.sign(MESSAGE, NS), 78, /needs a passphrase; add it to ssh-agent \(ssh-add\) or use --key with an agent-held public key/);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(e.hint).toContain("ssh-add");
  });

  it("a private key readable by others is refused by ssh-keygen, and guard says how to fix it", async () => {
    const d = join(dir, "loose");
    await mkdir(d, { recursive: true });
    const k = join(d, "id_ed25519");
    await copyFile(alice.privatePath, k);
    await chmod(k, 0o644);
    const signer = await loadSigner(opts(k));
    await expectGuardError(signer.sign(MESSAGE, NS), 78, /permissions are too open/);
  });

  it("refuses a namespace that is not a plain identifier (an internal error, never passed to ssh-keygen)", async () => {
    const signer = await loadSigner(opts(alice.privatePath));
    for (const ns of ["", "-n", "a b", "x\n"]) await expectGuardError(signer.sign(MESSAGE, ns), 70, /refusing to sign/);
  });
});

describe("signing through ssh-agent", () => {
  it("agent-only: a public key path plus a real ssh-agent holding the private key", async () => {
    await agent.add(alice.privatePath);
    const pub = await lonePublicKey(alice);
    const signer = await loadSigner(opts(pub, { PATH, SSH_AUTH_SOCK: agent.env.SSH_AUTH_SOCK }));
    expect(signer.agentOnly).toBe(true);
    expect(signer.publicKey.blob).toBe(alice.key.blob);
    const sig = await signer.sign(MESSAGE, NS);
    expect(verifySshSig(sig, MESSAGE, NS, [alice.key]).ok).toBe(true);
    expect(await sshKeygenVerify({ message: MESSAGE, signature: sig, namespace: NS, principal: "alice", publicLine: alice.publicLine })).toBe(true);
  });

  it("a passphrase-protected key held by the agent signs without any prompt", async () => {
    await agent.add(locked.privatePath, "correct horse");
    expect(await agent.list()).toContain(locked.publicLine);
    const signer = await loadSigner(opts(locked.privatePath, { PATH, SSH_AUTH_SOCK: agent.env.SSH_AUTH_SOCK }));
    const sig = await signer.sign(MESSAGE, NS);
    expect(verifySshSig(sig, MESSAGE, NS, [locked.key]).ok).toBe(true);
  });

  it("agent-only key but SSH_AUTH_SOCK unset: exit 78 before running ssh-keygen", async () => {
    const signer = await loadSigner(opts(await lonePublicKey(alice)));
    await expectGuardError(signer.sign(MESSAGE, NS), 78, /public key, so its private half must be in ssh-agent, but SSH_AUTH_SOCK is not set/);
  });

  it("agent-only key that the agent does not hold: exit 78 naming the agent", async () => {
    const signer = await loadSigner(opts(await lonePublicKey(bob), { PATH, SSH_AUTH_SOCK: agent.env.SSH_AUTH_SOCK }));
    await expectGuardError(signer.sign(MESSAGE, NS), 78, /private half of .*bob\.pub is not in ssh-agent/);
  });
});

describe("never trusting what ssh-keygen hands back", () => {
  async function fakeSshKeygen(name: string, script: string): Promise<string> {
    const d = join(dir, `fake-${name}`);
    await mkdir(d, { recursive: true });
    const p = join(d, "ssh-keygen");
    await writeFile(p, `#!/bin/sh\n${script}\n`);
    await chmod(p, 0o755);
    return d;
  }

  it("a signature by another key than the configured one is caught in process (exit 78)", async () => {
    const real = (await run("sh", ["-c", "command -v ssh-keygen"])).stdout.trim();
    // ssh-keygen (or an agent behind it) that signs with bob's key when asked for alice's.
    const fake = await fakeSshKeygen("wrong-key", `exec ${real} -Y sign -f ${bob.privatePath} -n "$6"`);
    const signer = await loadSigner(opts(alice.privatePath, { PATH: `${fake}:${PATH}` }));
    await expectGuardError(signer.sign(MESSAGE, NS), 78, new RegExp(`does not verify with ${alice.fingerprint.replace(/[+/]/g, "\\$&")}.*not a key of`));
  });

  it("ssh-keygen that never answers is killed at the deadline (exit 78)", async () => {
    const fake = await fakeSshKeygen("hang", "sleep 30");
    const signer = await loadSigner({ ...opts(alice.privatePath, { PATH: `${fake}:${PATH}` }), timeoutMs: 300 });
    const t0 = Date.now();
    await expectGuardError(signer.sign(MESSAGE, NS), 78, /did not finish signing with .* within 300 ms/);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it("no ssh-keygen on PATH: exit 78 saying to install OpenSSH", async () => {
    const empty = join(dir, "empty-bin");
    await mkdir(empty, { recursive: true });
    const signer = await loadSigner(opts(alice.privatePath, { PATH: empty }));
    await expectGuardError(signer.sign(MESSAGE, NS), 78, /ssh-keygen was not found/);
  });
});
