/**
 * The bastion's uid drop (docs/bastion.md, SECURITY.md L-K1): with `run_as: invoking-user` in the
 * system configuration, guard — started as root through sudo — runs the approved command (and its
 * previews) as the person who invoked sudo, never as itself.
 *
 * Who that person is comes from SUDO_USER, SUDO_UID and SUDO_GID, which sudo sets from the real
 * invoker (whatever the caller's environment held). Outside sudo those variables are the caller's own
 * words, and that is harmless here, because they can only take privilege away:
 * - the setting itself is read from the pinned system configuration only, never from a flag or variable;
 * - a caller who is not root cannot switch to another uid: guard refuses before anything is minted;
 * - a caller running guard as themselves with forged SUDO_* gets their own uid (nothing to switch), or a
 *   refusal; the admin source is readable by root only, so such a run cannot mint anything anyway;
 * - root is never the target (a command is never run as uid 0 under this setting).
 * SUDO_USER must exist in the user database with exactly SUDO_UID and SUDO_GID as its ids.
 *
 * Why root and not a non-root service user: changing uid needs CAP_SETUID. A non-root user holding it
 * (file or ambient capabilities) keeps it across a switch between two non-root uids and hands it to the
 * child (capabilities(7)); a switch from root to a user clears every capability. So guard runs as root
 * for the few moments of a run and the child gets the invoker's uid and primary gid with no
 * supplementary groups (Node's spawn clears them) and no capabilities.
 */
import { childProcess } from "./child-process.js";
import { statSync } from "node:fs";
import { ExitCode, GuardError } from "../core/errors.js";

export const RUN_AS_VALUES = ["invoking-user"] as const;
export type RunAsSetting = (typeof RUN_AS_VALUES)[number];

export interface Invoker {
  user: string;
  uid: number;
  gid: number;
  home: string;
  /** Whether guard must switch to this uid (false when guard already runs as it). */
  switchUid: boolean;
}

export interface InvokerInput {
  env: Readonly<Record<string, string | undefined>>;
  uid: number;
  euid: number;
  systemConfig: string;
  /** The passwd entry for a name: "name:x:uid:gid:gecos:home:shell", or null. Default: getent. */
  passwd?: (name: string) => string | null;
}

function refuse(message: string, hint: string): GuardError {
  return new GuardError(ExitCode.CONFIG, message, hint);
}

/** The person the command runs as, from sudo's variables; any doubt is a refusal (78). */
export function resolveInvoker(input: InvokerInput): Invoker {
  const { env, systemConfig } = input;
  const where = `the system configuration ${systemConfig} sets \`run_as: invoking-user\``;
  const { SUDO_USER: user, SUDO_UID: uidText, SUDO_GID: gidText } = env;
  if (!user || !uidText || !gidText) {
    throw refuse(`${where}, but guard was not started through sudo (SUDO_USER, SUDO_UID or SUDO_GID is unset)`, "on this machine run guard as `sudo guard …` (docs/bastion.md)");
  }
  if (!/^[0-9]{1,10}$/.test(uidText) || !/^[0-9]{1,10}$/.test(gidText) || !/^[A-Za-z0-9._][A-Za-z0-9._-]{0,63}$/.test(user)) {
    throw refuse(`${where}, but SUDO_USER, SUDO_UID or SUDO_GID is malformed`, "run guard through sudo, which sets them");
  }
  const uid = Number(uidText);
  const gid = Number(gidText);
  if (uid === 0) throw refuse(`${where}, and the invoking user is root: a command is never run as root under this setting`, "run guard through sudo from your own account");
  const entry = (input.passwd ?? getentPasswd)(user);
  const fields = entry?.split(":");
  if (!fields || fields.length < 7 || fields[0] !== user) throw refuse(`${where}, but the invoking user ${user} is not in the user database`, "run guard through sudo from your own account");
  if (Number(fields[2]) !== uid || Number(fields[3]) !== gid) {
    throw refuse(`${where}, but SUDO_UID/SUDO_GID (${uid}/${gid}) are not the ids of ${user} (${fields[2]}/${fields[3]})`, "run guard through sudo, which sets them");
  }
  const home = fields[5]!;
  const switchUid = !(input.uid === uid && input.euid === uid);
  if (switchUid && input.euid !== 0) {
    throw refuse(
      `${where}, but guard runs as uid ${input.euid}, which cannot start the command as ${user} (uid ${uid})`,
      "the sudo rule must run guard as root (`sudo guard …`); see docs/bastion.md",
    );
  }
  return { user, uid, gid, home, switchUid };
}

function getentPasswd(name: string): string | null {
  try {
    return childProcess().execFileSync("/usr/bin/getent", ["passwd", name], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 5_000 }).trim().split("\n")[0] ?? null;
  } catch {
    return null;
  }
}

/** The identity part of the child's environment: the invoker's HOME, USER and LOGNAME. */
export function invokerEnv(inv: Invoker): Record<string, string> {
  return { HOME: inv.home, USER: inv.user, LOGNAME: inv.user };
}

/** spawn() options for the invoker: uid/gid only when guard must switch (spawn then drops all supplementary groups). */
export function spawnIdentity(inv: Invoker | null): { uid?: number; gid?: number } {
  return inv?.switchUid ? { uid: inv.uid, gid: inv.gid } : {};
}

/**
 * Under run_as, the key guard signs with (and, for a lone public key, the ssh-agent socket) must belong
 * to the invoking user: root can read every key on the machine, so without this one person could sign
 * (or run an approved request) with another's key.
 */
export function assertOwnedByInvoker(inv: Invoker, path: string, what: string): void {
  let owner: number;
  try {
    owner = statSync(path).uid;
  } catch (e) {
    throw refuse(`cannot check ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, "use a key (or ssh-agent) of your own");
  }
  if (owner !== inv.uid) {
    throw new GuardError(
      ExitCode.DENIED,
      `${what} ${path} belongs to uid ${owner}, not to you (${inv.user}, uid ${inv.uid})`,
      "on this machine each person signs with their own key: use a key file, or an ssh-agent, that is yours",
    );
  }
}

/** A child's environment and ids under run_as (unchanged without an invoker). */
export function childAs(inv: Invoker | null, env: Record<string, string | undefined>): { env: Record<string, string | undefined>; uid?: number; gid?: number } {
  if (!inv) return { env };
  return { env: { ...env, ...invokerEnv(inv) }, ...spawnIdentity(inv) };
}
