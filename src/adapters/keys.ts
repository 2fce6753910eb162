import { statSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { ExitCode, GuardError } from "../core/errors.js";
import { parseAuthorizedKey, SshReader } from "../core/sshkey.js";
import { readRegular } from "./regular-file.js";
import type { PublicKey } from "../core/types.js";

/**
 * Finding the key a person signs with, per the contract: `--key`, `GUARD_KEY`, `key:` in the
 * configuration, then ~/.ssh defaults. The path may be a private key, or a public key whose private
 * half lives in ssh-agent (or on a hardware token behind it).
 */

export type KeySource = "flag" | "env" | "config" | "default";
export interface KeyLocation {
  path: string;
  source: KeySource;
}

/** Preference order for the default key, as OpenSSH's own defaults but strongest first. */
export const DEFAULT_KEY_FILES = ["id_ed25519", "id_ecdsa", "id_rsa"] as const;

const SETUP_HINT =
  "set GUARD_KEY or pass --key PATH (a private key, or a public key whose private half is in ssh-agent), or create a key with `ssh-keygen -t ed25519`";
/** Key files are a few KiB; anything bigger is not a key and is not read whole. */
const MAX_KEY_FILE = 64 * 1024;

const SOURCE_LABEL: Record<KeySource, string> = {
  flag: "--key",
  env: "GUARD_KEY",
  config: "`key:` in the configuration",
  default: "the default key setting",
};

/**
 * Resolve which key file to use. `setting` is the flag/variable/configuration value the caller has
 * already chosen by precedence (null when none was given); `source` says where it came from and is
 * ignored when `setting` is null.
 */
export async function resolveKeyPath(
  setting: string | null,
  env: Readonly<Record<string, string | undefined>>,
  home: string,
  source: KeySource = "flag",
): Promise<KeyLocation> {
  if (setting === null && env.GUARD_KEY !== undefined) return resolveKeyPath(env.GUARD_KEY, env, home, "env");
  if (setting !== null) {
    const label = SOURCE_LABEL[source];
    if (setting.trim() === "") throw keyError(`${label} is set but empty`, SETUP_HINT);
    const path = expandHome(setting, home);
    const kind = fileKind(path);
    if (kind !== "file") {
      throw keyError(`the signing key ${path} (from ${label}) ${kind === "missing" ? "does not exist" : "is not a regular file"}`, SETUP_HINT);
    }
    return { path, source };
  }
  if (!isAbsolute(home)) throw keyError(`cannot look for default SSH keys: home directory ${JSON.stringify(home)} is not absolute`, SETUP_HINT);
  const looked: string[] = [];
  for (const name of DEFAULT_KEY_FILES) {
    const path = join(home, ".ssh", name);
    // A lone `.pub` counts too: its private half may be in the agent or on a token, as ssh treats it.
    for (const candidate of [path, `${path}.pub`]) {
      looked.push(candidate);
      if (fileKind(candidate) === "file") return { path: candidate, source: "default" };
    }
  }
  throw new GuardError(ExitCode.CONFIG, "no SSH key found to sign with", SETUP_HINT, looked.map((p) => `looked for ${p}`), "config-invalid");
}

export interface LoadedPublicKey {
  key: PublicKey;
  /** The path is a public key with no private key beside it: signing needs the private half in ssh-agent. */
  agentOnly: boolean;
}

export interface LoadKeyOptions {
  /** Environment for `ssh-keygen -y`, needed only for private keys in legacy PEM format without a `.pub`. */
  env?: Readonly<Record<string, string | undefined>>;
  timeoutMs?: number;
}

/** The public key for a key path, refusing weak key types (exit 78). */
export async function loadPublicKeyFor(path: string, opts: LoadKeyOptions = {}): Promise<LoadedPublicKey> {
  const text = readKeyFile(path);
  if (looksLikePublicKey(text)) {
    // ssh-keygen falls back to the private key beside a .pub; only a lone public key needs the agent.
    const beside = path.endsWith(".pub") && fileKind(path.slice(0, -4)) === "file";
    return { key: parsePublicFile(path, text), agentOnly: !beside };
  }
  if (path.endsWith(".pub")) throw keyError(`${path} is not an SSH public key`, "a .pub file holds one line such as `ssh-ed25519 AAAA… you@example.com`");

  const sidecarPath = `${path}.pub`;
  const sidecar = fileKind(sidecarPath) === "file" ? parsePublicFile(sidecarPath, readKeyFile(sidecarPath)) : null;
  const embedded = publicKeyOfOpensshPrivate(text);
  if (embedded !== null) {
    // The new OpenSSH format stores the public key in clear: no passphrase needed to learn it.
    const parsed = parseAuthorizedKey(embedded);
    if (!parsed.ok) throw refused(path, parsed.reason);
    if (sidecar && sidecar.blob !== parsed.key.blob) {
      throw keyError(`${sidecarPath} does not match the private key ${path}`, `regenerate it: ssh-keygen -y -f ${path} > ${sidecarPath}`);
    }
    return { key: sidecar ?? parsed.key, agentOnly: false };
  }
  if (sidecar) return { key: sidecar, agentOnly: false };
  if (!/^-----BEGIN [A-Z ]*PRIVATE KEY-----/m.test(text)) throw keyError(`${path} is neither an SSH private key nor a public key`, SETUP_HINT);
  return { key: await publicKeyViaSshKeygen(path, opts), agentOnly: false };
}

/** `ssh-keygen -y` for legacy PEM keys. Never prompts: no stdin, no terminal, no askpass; bounded in time. */
async function publicKeyViaSshKeygen(path: string, opts: LoadKeyOptions): Promise<PublicKey> {
  const { runSshKeygen } = await import("./ssh-keygen.js");
  const res = await runSshKeygen(["-y", "-f", path], { env: opts.env ?? {}, interactive: false, timeoutMs: opts.timeoutMs ?? 10_000 });
  if (res.code !== 0) {
    const needsPass = /passphrase/i.test(res.stderr);
    throw new GuardError(
      ExitCode.CONFIG,
      needsPass ? `cannot read the public half of ${path}: the key needs a passphrase` : `cannot read the public half of ${path}`,
      `create ${path}.pub once with \`ssh-keygen -y -f ${path} > ${path}.pub\`, or add the key to ssh-agent`,
      res.stderr.trim() ? [`ssh-keygen: ${res.stderr.trim()}`] : [],
      "config-invalid",
    );
  }
  const parsed = parseAuthorizedKey(res.stdout.trim());
  if (!parsed.ok) throw refused(path, parsed.reason);
  return parsed.key;
}

function looksLikePublicKey(text: string): boolean {
  return /^\s*(ssh-|ecdsa-|sk-)[A-Za-z0-9@.-]+\s+[A-Za-z0-9+/=]/.test(text);
}

function parsePublicFile(path: string, text: string): PublicKey {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "" && !l.trimStart().startsWith("#"));
  if (lines.length !== 1) throw keyError(`${path} holds ${lines.length} keys; point at a file with exactly one public key`, SETUP_HINT);
  const parsed = parseAuthorizedKey(lines[0]!);
  if (!parsed.ok) throw refused(path, parsed.reason);
  return parsed.key;
}

/** The public key line inside an "openssh-key-v1" private key, or null when the file is another format. */
export function publicKeyOfOpensshPrivate(text: string): string | null {
  const m = /^-----BEGIN OPENSSH PRIVATE KEY-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END OPENSSH PRIVATE KEY-----\s*$/.exec(text.trim() + "\n");
  if (!m) return null;
  const blob = Buffer.from(m[1]!.replace(/\s+/g, ""), "base64");
  const magic = Buffer.from("openssh-key-v1\0", "latin1");
  try {
    if (!blob.subarray(0, magic.length).equals(magic)) return null;
    const r = new SshReader(blob.subarray(magic.length));
    r.bytes(); // cipher name
    r.bytes(); // kdf name
    r.bytes(); // kdf options
    if (r.u32() !== 1) return null; // ssh-keygen writes exactly one key per file
    const pub = r.bytes();
    const type = new SshReader(pub).string();
    return `${type} ${pub.toString("base64")}`;
  } catch {
    return null;
  }
}

/**
 * Key files are read with synchronous calls: a few KiB, where each asynchronous call is a trip through
 * libuv's thread pool (the first one starts it) and node:fs/promises costs ~1 ms to load. The file is
 * opened without blocking and judged by the descriptor that is read (regular-file.ts): a FIFO, a device
 * or a directory is refused, never waited on or read.
 */
function readKeyFile(path: string): string {
  const read = readRegular(path, { max: MAX_KEY_FILE });
  if (!("fail" in read)) return read.bytes.toString("utf8");
  switch (read.fail) {
    case "missing":
      throw keyError(`the signing key ${path} does not exist`, SETUP_HINT);
    case "not-regular":
      throw keyError(`the signing key ${path} is not a regular file`, SETUP_HINT);
    case "too-large":
      throw keyError(`${path} is too large to be an SSH key (more than ${MAX_KEY_FILE} bytes)`, SETUP_HINT);
    default:
      throw keyError(`cannot read the signing key ${path}: ${read.error.code ?? read.error.message}`, "check the file's permissions");
  }
}

function fileKind(path: string): "file" | "missing" | "other" {
  try {
    return statSync(path).isFile() ? "file" : "other";
  } catch {
    return "missing";
  }
}

function expandHome(p: string, home: string): string {
  if (p === "~") return home;
  if (p.startsWith("~/")) return join(home, p.slice(2));
  return resolve(p);
}

function refused(path: string, reason: string): GuardError {
  return keyError(`the key ${path} is refused: ${reason}`, "create a new key with `ssh-keygen -t ed25519` and have it added to the policy");
}

function keyError(message: string, hint: string): GuardError {
  return new GuardError(ExitCode.CONFIG, message, hint, [], "config-invalid");
}
