/**
 * Throwaway SSH identities for tests, made by the real ssh-keygen, plus ssh-keygen as a signing and
 * verification oracle and a real ssh-agent. Import from any test:
 *
 *   const alice = await makeIdentity(dir, "alice");            // ed25519 by default
 *   const sig = await sshKeygenSign({ privatePath: alice.privatePath, namespace, message });
 */
import { spawn } from "node:child_process";
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAuthorizedKey } from "../../src/core/sshkey.js";
import type { PublicKey } from "../../src/core/types.js";

/** Key types guard accepts. "ecdsa" = P-256, "rsa" = 2048 bits. */
export type AcceptedKeyType = "ed25519" | "ecdsa" | "ecdsa-p256" | "ecdsa-p384" | "ecdsa-p521" | "rsa" | "rsa-2048" | "rsa-3072";
/** Plus the ones guard must refuse. */
export type KeyType = AcceptedKeyType | "rsa-1024" | "dsa";

export interface KeyFiles {
  name: string;
  privatePath: string;
  publicPath: string;
  /** The .pub line, `type base64 name@example.com`. */
  publicLine: string;
  /** As `ssh-keygen -l` prints it: "SHA256:…". */
  fingerprint: string;
}

export interface Identity extends KeyFiles {
  key: PublicKey;
}

export interface KeyOptions {
  /** Encrypt the private key with this passphrase (at least 5 characters). */
  passphrase?: string;
  /** "PEM" writes the legacy format (RSA and ECDSA only), which does not store the public key in clear. */
  format?: "openssh" | "PEM";
}

const KEYGEN_ARGS: Record<KeyType, string[]> = {
  ed25519: ["-t", "ed25519"],
  ecdsa: ["-t", "ecdsa", "-b", "256"],
  "ecdsa-p256": ["-t", "ecdsa", "-b", "256"],
  "ecdsa-p384": ["-t", "ecdsa", "-b", "384"],
  "ecdsa-p521": ["-t", "ecdsa", "-b", "521"],
  rsa: ["-t", "rsa", "-b", "2048"],
  "rsa-2048": ["-t", "rsa", "-b", "2048"],
  "rsa-3072": ["-t", "rsa", "-b", "3072"],
  "rsa-1024": ["-t", "rsa", "-b", "1024"],
  dsa: ["-t", "dsa"],
};

/** Key files of any type, including weak ones guard must refuse. */
export async function makeKeyFiles(dir: string, name: string, type: KeyType = "ed25519", opts: KeyOptions = {}): Promise<KeyFiles> {
  const privatePath = join(dir, name);
  const format = opts.format === "PEM" ? ["-m", "PEM"] : [];
  await run("ssh-keygen", ["-q", ...KEYGEN_ARGS[type], ...format, "-N", opts.passphrase ?? "", "-C", `${name}@example.com`, "-f", privatePath]);
  const publicPath = `${privatePath}.pub`;
  const publicLine = (await readFile(publicPath, "utf8")).trim();
  const listed = await run("ssh-keygen", ["-l", "-E", "sha256", "-f", publicPath]);
  const fingerprint = listed.stdout.split(/\s+/)[1] ?? "";
  return { name, privatePath, publicPath, publicLine, fingerprint };
}

/** An identity guard accepts, with its parsed PublicKey. */
export async function makeIdentity(dir: string, name: string, type: AcceptedKeyType = "ed25519", opts: KeyOptions = {}): Promise<Identity> {
  const files = await makeKeyFiles(dir, name, type, opts);
  const parsed = parseAuthorizedKey(files.publicLine);
  if (!parsed.ok) throw new Error(`test identity ${name} (${type}) was refused: ${parsed.reason}`);
  return { ...files, key: parsed.key };
}

/** `ssh-keygen -Y sign` as a user would run it (message on stdin). */
export async function sshKeygenSign(o: { privatePath: string; namespace: string; message: string | Uint8Array; env?: Record<string, string> }): Promise<string> {
  const res = await run("ssh-keygen", ["-Y", "sign", "-f", o.privatePath, "-n", o.namespace], { input: o.message, env: o.env });
  return res.stdout;
}

/** The oracle: does `ssh-keygen -Y verify` accept this signature for this principal, key and namespace? */
export async function sshKeygenVerify(o: { message: string | Uint8Array; signature: string; namespace: string; principal: string; publicLine: string }): Promise<boolean> {
  return (await sshKeygenVerifyDetailed(o)).ok;
}

export async function sshKeygenVerifyDetailed(o: { message: string | Uint8Array; signature: string; namespace: string; principal: string; publicLine: string }): Promise<{ ok: boolean; output: string }> {
  const dir = await mkdtemp(join(tmpdir(), "guard-verify-"));
  try {
    const allowed = join(dir, "allowed_signers");
    const sigFile = join(dir, "msg.sig");
    const [type, blob] = o.publicLine.trim().split(/\s+/);
    await writeFile(allowed, `${o.principal} ${type} ${blob}\n`);
    await writeFile(sigFile, o.signature);
    const res = await run("ssh-keygen", ["-Y", "verify", "-f", allowed, "-I", o.principal, "-n", o.namespace, "-s", sigFile], { input: o.message, allowFailure: true });
    return { ok: res.code === 0, output: `${res.stdout}${res.stderr}`.trim() };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface Agent {
  env: { SSH_AUTH_SOCK: string; SSH_AGENT_PID: string };
  /** ssh-add a private key; a passphrase is given through a throwaway askpass script. */
  add(path: string, passphrase?: string): Promise<void>;
  /** The agent's public keys (`ssh-add -L`). */
  list(): Promise<string[]>;
  stop(): Promise<void>;
}

/** A real ssh-agent in the foreground (-D), owned by this process, on a socket in a fresh temp dir. */
export async function startAgent(): Promise<Agent> {
  const dir = await mkdtemp(join(tmpdir(), "guard-agent-"));
  const sock = join(dir, "agent.sock");
  const child = spawn("ssh-agent", ["-D", "-a", sock], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((res) => child.once("exit", () => res()));
  for (let i = 0; ; i++) {
    if (await exists(sock)) break;
    if (child.exitCode !== null || i > 200) {
      child.kill("SIGKILL");
      throw new Error(`ssh-agent did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  const env = { SSH_AUTH_SOCK: sock, SSH_AGENT_PID: String(child.pid) };
  const base = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, SSH_AUTH_SOCK: sock };
  return {
    env,
    async add(path, passphrase) {
      const extra: Record<string, string> = { SSH_ASKPASS_REQUIRE: "never" };
      if (passphrase !== undefined) {
        const askpass = join(dir, "askpass.sh");
        await writeFile(askpass, `#!/bin/sh\nprintf '%s\\n' '${passphrase.replace(/'/g, "'\\''")}'\n`);
        await chmod(askpass, 0o700);
        Object.assign(extra, { SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: "force", DISPLAY: ":0" });
      }
      await run("ssh-add", ["-q", path], { env: { ...base, ...extra }, detached: true });
    },
    async list() {
      const res = await run("ssh-add", ["-L"], { env: base, allowFailure: true });
      return res.code === 0 ? res.stdout.trim().split("\n") : [];
    },
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a program (never a shell); rejects on a non-zero status unless allowFailure. */
export function run(
  cmd: string,
  args: string[],
  o: { input?: string | Uint8Array; env?: Record<string, string>; allowFailure?: boolean; detached?: boolean } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: o.env ?? (process.env as Record<string, string>),
      stdio: [o.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      // No controlling terminal: a test must never stop at a passphrase prompt.
      detached: o.detached ?? true,
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr?.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0 && !o.allowFailure) reject(new Error(`${cmd} ${args.join(" ")} exited ${code}: ${stderr}`));
      else resolve({ code, stdout, stderr });
    });
    if (child.stdin) {
      child.stdin.on("error", () => {});
      child.stdin.end(o.input);
    }
  });
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}
