import { ExitCode, GuardError } from "../core/errors.js";
import { verifySshSig } from "../core/sshsig.js";
import type { PublicKey } from "../core/types.js";
import { loadPublicKeyFor, resolveKeyPath, type KeySource } from "./keys.js";
import { runSshKeygen, type SshKeygenResult } from "./ssh-keygen.js";
export { runSshKeygen, type SshKeygenResult };

/**
 * Signing through OpenSSH's own `ssh-keygen -Y sign`, so that passphrases, ssh-agent and whatever
 * the agent fronts keep working as people already use them. guard never reads a private key.
 */

export interface Signer {
  publicKey: PublicKey;
  keyPath: string;
  source: KeySource;
  /** The key path is a lone public key: the private half must be in ssh-agent. */
  agentOnly: boolean;
  /** An armored SSHSIG over `message`, already verified in process against `publicKey`. */
  sign(message: string | Uint8Array, namespace: string): Promise<string>;
}

export interface SignerOptions {
  /** --key / GUARD_KEY / `key:` value, already chosen by precedence; null = defaults. */
  setting: string | null;
  /** Where `setting` came from (ignored when it is null). */
  source?: KeySource;
  env: Readonly<Record<string, string | undefined>>;
  home: string;
  /**
   * Whether ssh-keygen may ask for a passphrase on the terminal. When false (CI, --yes, no TTY) it
   * runs without a controlling terminal and without askpass, so a locked key fails at once instead of
   * hanging.
   */
  interactive: boolean;
  /** Upper bound for one signature (default 20 s, or 3 min when interactive: a person is typing). */
  timeoutMs?: number;
}

export async function loadSigner(opts: SignerOptions): Promise<Signer> {
  const location = await resolveKeyPath(opts.setting, opts.env, opts.home, opts.source);
  const loaded = await loadPublicKeyFor(location.path, { env: opts.env });
  const interactive = opts.interactive;
  const timeoutMs = opts.timeoutMs ?? (interactive ? 180_000 : 20_000);
  const keyPath = location.path;
  const publicKey = loaded.key;

  async function sign(message: string | Uint8Array, namespace: string): Promise<string> {
    if (!/^[A-Za-z0-9@._+][A-Za-z0-9@._+-]*$/.test(namespace)) {
      throw new GuardError(ExitCode.INTERNAL, `refusing to sign with namespace ${JSON.stringify(namespace)}`);
    }
    if (loaded.agentOnly && !opts.env.SSH_AUTH_SOCK) {
      throw signError(`${keyPath} is a public key, so its private half must be in ssh-agent, but SSH_AUTH_SOCK is not set`, "start ssh-agent and `ssh-add` the private key, or use --key with the private key file");
    }
    const res = await runSshKeygen(["-Y", "sign", "-f", keyPath, "-n", namespace], { env: opts.env, interactive, timeoutMs, input: message });
    if (res.notFound) throw signError("ssh-keygen was not found on PATH", "install the OpenSSH client (8.2 or later)");
    if (res.timedOut) {
      throw signError(`ssh-keygen did not finish signing with ${keyPath} within ${timeoutMs >= 1000 ? `${Math.round(timeoutMs / 1000)} s` : `${timeoutMs} ms`}`, "it may be waiting for a passphrase or a confirmation; add the key to ssh-agent (ssh-add)");
    }
    if (res.code !== 0) throw explainFailure(keyPath, loaded.agentOnly, interactive, res.stderr);
    // Catches an agent that signed with another key, or a .pub that no longer matches its private key.
    const check = verifySshSig(res.stdout, message, namespace, [publicKey], `${keyPath}`);
    if (!check.ok) {
      throw signError(`ssh-keygen produced a signature that does not verify with ${publicKey.fingerprint} (${keyPath}): ${check.reason}`, `check that ${keyPath} and its .pub (or the agent's key) belong together`);
    }
    return res.stdout;
  }

  return { publicKey, keyPath, source: location.source, agentOnly: loaded.agentOnly, sign };
}

function explainFailure(keyPath: string, agentOnly: boolean, interactive: boolean, stderr: string): GuardError {
  const details = stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("Signing data") && !/^@+$/.test(l))
    .map((l) => `ssh-keygen: ${l}`);
  const err = (message: string, hint: string) => new GuardError(ExitCode.CONFIG, message, hint, details, "config-invalid");
  if (/passphrase/i.test(stderr)) {
    return interactive
      ? new PassphraseRejected(`the passphrase for ${keyPath} was not accepted`, "try again, or add the key to ssh-agent (ssh-add)", details)
      : err(`the key ${keyPath} needs a passphrase; add it to ssh-agent (ssh-add) or use --key with an agent-held public key`, `ssh-add ${keyPath}`);
  }
  if (/too open|UNPROTECTED PRIVATE KEY/i.test(stderr)) return err(`ssh-keygen refuses ${keyPath}: its permissions are too open`, `chmod 600 ${keyPath}`);
  if (agentOnly || /No private key found/i.test(stderr)) {
    return err(`the private half of ${keyPath} is not in ssh-agent`, "`ssh-add` the private key (check SSH_AUTH_SOCK points at your agent), or use --key with the private key file");
  }
  return err(`ssh-keygen could not sign with ${keyPath}`, "run `ssh-keygen -Y sign -f <key> -n test` by hand to see why");
}

/** A person at a terminal typed a passphrase ssh-keygen did not accept: they may try again. */
export class PassphraseRejected extends GuardError {
  constructor(message: string, hint: string, details: readonly string[]) {
    super(ExitCode.CONFIG, message, hint, details, "config-invalid");
    this.name = "PassphraseRejected";
  }
}

function signError(message: string, hint: string): GuardError {
  return new GuardError(ExitCode.CONFIG, message, hint, [], "config-invalid");
}


