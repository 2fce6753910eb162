/**
 * Key discovery (flag / GUARD_KEY / configuration / ~/.ssh defaults) in a temporary HOME, and reading
 * the public half of every key format ssh-keygen writes, refusing weak keys.
 */
import { execFileSync } from "node:child_process";
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPublicKeyFor, publicKeyOfOpensshPrivate, resolveKeyPath } from "../../src/adapters/keys.js";
import { loadSigner } from "../../src/adapters/signer.js";
import { GuardError } from "../../src/core/errors.js";
import { makeIdentity, makeKeyFiles, type Identity, type KeyFiles } from "../helpers/keys.js";

let dir: string;
let ed: Identity;
let rsaPem: Identity;
let rsaPemLocked: Identity;
let edLocked: Identity;
let rsa1024: KeyFiles;
let dsa: KeyFiles;
let emptyBin: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "guard-keys-"));
  [ed, rsaPem, rsaPemLocked, edLocked, rsa1024, dsa] = await Promise.all([
    makeIdentity(dir, "ed"),
    makeIdentity(dir, "rsapem", "rsa-2048", { format: "PEM" }),
    makeIdentity(dir, "rsapemlocked", "rsa-2048", { format: "PEM", passphrase: "secret words" }),
    makeIdentity(dir, "edlocked", "ed25519", { passphrase: "secret words" }),
    makeKeyFiles(dir, "rsa1024", "rsa-1024"),
    makeKeyFiles(dir, "dsa", "dsa"),
  ]);
  emptyBin = join(dir, "empty-bin");
  await mkdir(emptyBin);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function guardError(p: Promise<unknown>): Promise<GuardError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(GuardError);
  return e as GuardError;
}

/** A fresh HOME whose ~/.ssh holds copies of the given key files. */
async function homeWith(files: string[]): Promise<string> {
  const home = await mkdtemp(join(dir, "home-"));
  await mkdir(join(home, ".ssh"), { mode: 0o700 });
  for (const f of files) await copyFile(f.endsWith(".pub") ? ed.publicPath : ed.privatePath, join(home, ".ssh", f));
  return home;
}

describe("resolveKeyPath: the default key in ~/.ssh", () => {
  const rows: Array<{ files: string[]; expected: string }> = [
    { files: ["id_rsa"], expected: "id_rsa" },
    { files: ["id_ecdsa", "id_rsa"], expected: "id_ecdsa" },
    { files: ["id_rsa", "id_ecdsa", "id_ed25519"], expected: "id_ed25519" },
    { files: ["id_rsa", "id_rsa.pub", "id_ed25519.pub"], expected: "id_ed25519.pub" }, // private half on a token or in the agent
    { files: ["id_ed25519", "id_ed25519.pub"], expected: "id_ed25519" },
    { files: ["id_dsa", "id_rsa"], expected: "id_rsa" }, // DSA is never a default
  ];
  it.each(rows)("with $files picks $expected", async ({ files, expected }) => {
    const home = await homeWith(files);
    expect(await resolveKeyPath(null, {}, home)).toEqual({ path: join(home, ".ssh", expected), source: "default" });
  });

  it("no key anywhere: exit 78 listing every place looked and how to set one", async () => {
    const home = await homeWith([]);
    const e = await guardError(resolveKeyPath(null, {}, home));
    expect(e.exitCode).toBe(78);
    expect(e.message).toBe("no SSH key found to sign with");
    expect(e.details).toEqual(["id_ed25519", "id_ed25519.pub", "id_ecdsa", "id_ecdsa.pub", "id_rsa", "id_rsa.pub"].map((f) => `looked for ${join(home, ".ssh", f)}`));
    expect(e.hint).toMatch(/GUARD_KEY/);
    expect(e.hint).toMatch(/--key/);
    expect(e.hint).toMatch(/ssh-keygen -t ed25519/);
  });
});

describe("resolveKeyPath: an explicit setting", () => {
  it("uses the setting and keeps its source, expanding ~ against the given home", async () => {
    const home = await homeWith(["id_ed25519"]);
    await mkdir(join(home, "keys"));
    await copyFile(ed.privatePath, join(home, "keys", "work"));
    expect(await resolveKeyPath("~/keys/work", {}, home, "config")).toEqual({ path: join(home, "keys", "work"), source: "config" });
    expect(await resolveKeyPath(ed.privatePath, { GUARD_KEY: "/elsewhere" }, home, "flag")).toEqual({ path: ed.privatePath, source: "flag" });
  });

  it("falls back to GUARD_KEY from the given environment when no setting is passed", async () => {
    const home = await homeWith(["id_ed25519"]);
    expect(await resolveKeyPath(null, { GUARD_KEY: ed.publicPath }, home)).toEqual({ path: ed.publicPath, source: "env" });
  });

  const bad: Array<{ name: string; setting: string | null; env: Record<string, string>; source?: "flag" | "env" | "config"; message: RegExp }> = [
    { name: "a missing --key file", setting: "/nonexistent/key", env: {}, message: /\/nonexistent\/key \(from --key\) does not exist/ },
    { name: "a missing configured key", setting: "/nonexistent/key", env: {}, source: "config", message: /from `key:` in the configuration\) does not exist/ },
    { name: "an empty GUARD_KEY", setting: null, env: { GUARD_KEY: "" }, message: /GUARD_KEY is set but empty/ },
    { name: "a directory", setting: "/tmp", env: {}, message: /is not a regular file/ },
  ];
  it.each(bad)("$name is exit 78, never a silent fallback to the default key", async ({ setting, env, source, message }) => {
    const home = await homeWith(["id_ed25519"]);
    const e = await guardError(resolveKeyPath(setting, env, home, source));
    expect(e.exitCode).toBe(78);
    expect(e.message).toMatch(message);
  });
});

describe("loadPublicKeyFor", () => {
  it("an OpenSSH private key without .pub: the public key is read from the file itself (no ssh-keygen, no passphrase)", async () => {
    const d = await mkdtemp(join(dir, "nopub-"));
    for (const id of [ed, edLocked]) {
      const p = join(d, id.name);
      await copyFile(id.privatePath, p);
      const loaded = await loadPublicKeyFor(p, { env: { PATH: emptyBin } });
      expect(loaded.agentOnly).toBe(false);
      expect(loaded.key.blob).toBe(id.key.blob);
      expect(loaded.key.fingerprint).toBe(id.fingerprint);
    }
  });

  it("a private key with its .pub: the .pub (with its comment); a lone public key: agent-only", async () => {
    expect(await loadPublicKeyFor(ed.privatePath)).toEqual({ key: ed.key, agentOnly: false });
    expect(ed.key.comment).toBe("ed@example.com");
    // ssh-keygen signs with the private key beside a .pub, so that one is not agent-only.
    expect(await loadPublicKeyFor(ed.publicPath)).toEqual({ key: ed.key, agentOnly: false });
    const lone = join(await mkdtemp(join(dir, "lone-")), "id_ed25519.pub");
    await copyFile(ed.publicPath, lone);
    expect(await loadPublicKeyFor(lone)).toEqual({ key: ed.key, agentOnly: true });
  });

  it("a legacy PEM private key without .pub is read through `ssh-keygen -y`", async () => {
    const p = join(await mkdtemp(join(dir, "pem-")), "id_rsa");
    await copyFile(rsaPem.privatePath, p);
    expect((await loadPublicKeyFor(p, { env: { PATH: process.env.PATH } })).key.blob).toBe(rsaPem.key.blob);
  });

  it("a passphrase-protected PEM key without .pub fails fast with exit 78 (no prompt, no hang)", async () => {
    const p = join(await mkdtemp(join(dir, "pemlocked-")), "id_rsa");
    await copyFile(rsaPemLocked.privatePath, p);
    const t0 = Date.now();
    const e = await guardError(loadPublicKeyFor(p, { env: { PATH: process.env.PATH } }));
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(e.exitCode).toBe(78);
    expect(e.message).toMatch(/needs a passphrase/);
    expect(e.hint).toContain(`ssh-keygen -y -f ${p} > ${p}.pub`);
  });

  it("a .pub that does not belong to its private key is refused", async () => {
    const d = await mkdtemp(join(dir, "mismatch-"));
    await copyFile(ed.privatePath, join(d, "id_ed25519"));
    await copyFile(edLocked.publicPath, join(d, "id_ed25519.pub"));
    const e = await guardError(loadPublicKeyFor(join(d, "id_ed25519")));
    expect(e.exitCode).toBe(78);
    expect(e.message).toMatch(/id_ed25519\.pub does not match the private key/);
  });

  const notKeys: Array<{ name: string; content: string; file: string; message: RegExp }> = [
    { name: "two public keys in one file", file: "two.pub", content: "", message: /holds 2 keys/ },
    { name: "a .pub that is not a key", file: "junk.pub", content: "hello\n", message: /is not an SSH public key/ },
    { name: "a file that is no key at all", file: "notes.txt", content: "just notes\n", message: /neither an SSH private key nor a public key/ },
    { name: "a malformed public key line", file: "bad.pub", content: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA== x\n", message: /is refused: malformed key data/ },
  ];
  it.each(notKeys)("$name is exit 78", async ({ file, content, message }) => {
    const d = await mkdtemp(join(dir, "notkey-"));
    const p = join(d, file);
    await writeFile(p, content || `${ed.publicLine}\n${edLocked.publicLine}\n`);
    const e = await guardError(loadPublicKeyFor(p));
    expect(e.exitCode).toBe(78);
    expect(e.message).toMatch(message);
  });

  const weak = () => [
    { name: "RSA-1024 private key", path: rsa1024.privatePath, message: /RSA key of 1024 bits is too weak; at least 2048 bits are required/ },
    { name: "RSA-1024 public key", path: rsa1024.publicPath, message: /RSA key of 1024 bits is too weak/ },
    { name: "DSA private key", path: dsa.privatePath, message: /DSA keys \(ssh-dss\) are refused/ },
    { name: "DSA public key", path: dsa.publicPath, message: /DSA keys \(ssh-dss\) are refused/ },
  ];
  it("weak keys (cf. P13: RSA-1024, DSA) are refused with the reason, exit 78, by loadPublicKeyFor and loadSigner", async () => {
    for (const w of weak()) {
      const e = await guardError(loadPublicKeyFor(w.path));
      expect(e.exitCode, w.name).toBe(78);
      expect(e.message, w.name).toMatch(w.message);
      expect(e.message, w.name).toContain(w.path);
      const viaSigner = await guardError(loadSigner({ setting: w.path, env: { PATH: process.env.PATH }, home: dir, interactive: false }));
      expect(viaSigner.exitCode, w.name).toBe(78);
    }
  });

  it("publicKeyOfOpensshPrivate ignores other formats", () => {
    expect(publicKeyOfOpensshPrivate("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n")).toBeNull();
    expect(publicKeyOfOpensshPrivate("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n")).toBeNull();
    expect(publicKeyOfOpensshPrivate("")).toBeNull();
  });
});

describe("key files guard reads", () => {
  it("a key larger than any key is refused, and a path that is a FIFO or a directory is not read (never waited on)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "guard-keyfile-"));
    try {
      await writeFile(join(dir, "huge"), Buffer.alloc(64 * 1024 + 1, 0x41));
      await expect(loadPublicKeyFor(join(dir, "huge"))).rejects.toThrow(/too large to be an SSH key \(more than 65536 bytes\)/);
      execFileSync("mkfifo", [join(dir, "fifo")]);
      await expect(loadPublicKeyFor(join(dir, "fifo"))).rejects.toThrow(/is not a regular file/);
      await mkdir(join(dir, "dir"));
      await expect(loadPublicKeyFor(join(dir, "dir"))).rejects.toThrow(/is not a regular file/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
