import { randomBytes } from "../random.js";
import { closeSync, constants, fchmodSync, fstatSync, lstatSync, openSync, promises as fsp, readFileSync, readSync, unlinkSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { formatDuration } from "../../core/duration.js";
import { ExitCode, GuardError, integrityError, ioError } from "../../core/errors.js";
import { escapeForTerminal as esc, quoteArgv } from "../../core/escape.js";
import { lstatOrNull, openRegular } from "../regular-file.js";

/**
 * A lock file that serialises one critical section across processes on one host (the audit append).
 * Node has no flock(), and O_EXCL creation is atomic on every local file system, so the lock is a file
 * created with O_CREAT|O_EXCL holding `{pid, host, token}`.
 *
 * A holder that died leaves its file behind. It is stale when it names this host and a pid that no
 * longer exists (or this very process, with a token it does not hold: pid reuse). On Linux the holder
 * also records its process start time (field 22 of /proc/PID/stat, clock ticks since boot) and the boot
 * id: a pid that is alive but started at another time (recycled, or an unrelated process named by a
 * planted lock), or a lock from before a reboot, is stale too (SECURITY H5). A lock on this host that
 * records no start time cannot be checked that way and is stale once older than any append takes.
 * Breaking a stale
 * lock goes through a second O_EXCL file, `<lock>.break`, and re-reads the content under it, so two
 * processes that both saw the same stale lock cannot remove a fresh lock that a third one just took.
 * A lock held on another host, or by a live process for longer than the wait, is never broken: the
 * caller gets a 74 that names the holder, its host and the lock's age, and for another host the command
 * that clears it once a person has checked (`guard store unlock --host H`, commands/store.ts).
 *
 * Taking and releasing a free lock is a handful of synchronous system calls (a guard run appends twice,
 * and each asynchronous call would be a round trip through libuv's thread pool). The holder keeps the
 * lock file open, and on release removes the file at the lock's path only if it is still that file
 * (same inode).
 */

export interface LockOptions {
  /** How long to wait for the lock before giving up with exit 74. */
  timeoutMs?: number;
  /** Mode for the lock file (0600, or 0660 in a shared store). */
  mode?: number;
  /** What the lock protects, for messages ("the audit log"). */
  what?: string;
}

export interface Holder {
  pid: number;
  host: string;
  token: string;
  since: string;
  /** Linux: the holder's start time (clock ticks since boot, /proc/PID/stat field 22) and the boot id. */
  start?: string;
  boot?: string;
}

/** A lock file whose content never became readable is a crash between create and write. */
const UNREADABLE_STALE_MS = 10_000;

const CREATE_FLAGS = constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW;

/** Tokens of the locks this process holds right now (to tell our own live lock from a dead namesake). */
const held = new Set<string>();

export async function withFileLock<T>(lockPath: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const lock = await acquire(lockPath, opts);
  try {
    return await fn();
  } finally {
    held.delete(lock.token);
    release(lockPath, lock.fd);
  }
}

/**
 * Remove the lock only if the file at its path is still the one this process created (same inode as the
 * descriptor it kept open): never someone else's that replaced a lock wrongly judged stale.
 */
function release(lockPath: string, fd: number): void {
  try {
    const now = lstatSync(lockPath);
    const mine = fstatSync(fd);
    if (now.ino === mine.ino && now.dev === mine.dev) unlinkSync(lockPath);
  } catch {
    // gone already (broken by someone): nothing of ours to remove
  } finally {
    closeSync(fd);
  }
}

async function acquire(lockPath: string, opts: LockOptions): Promise<{ token: string; fd: number }> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const mode = opts.mode ?? 0o600;
  const what = opts.what ?? lockPath;
  const deadline = Date.now() + timeoutMs;
  const self = selfIdentity();
  const me: Holder = { pid: process.pid, host: hostname(), token: randomBytes(12).toString("hex"), since: "", ...self };
  let delay = 2;
  for (;;) {
    me.since = new Date().toISOString();
    const fd = tryCreate(lockPath, `${JSON.stringify(me)}\n`, mode);
    if (fd !== null) {
      held.add(me.token);
      return { token: me.token, fd };
    }
    const state = inspectLockSync(lockPath);
    if (state.kind === "stale") {
      await breakStale(lockPath, state.raw, mode);
      continue;
    }
    if (Date.now() >= deadline) throw lockedError(what, lockPath, state, timeoutMs);
    await sleep(delay + Math.random() * delay);
    delay = Math.min(delay * 1.5, 50);
  }
}

/**
 * Create the file with O_EXCL and write its content; the open descriptor, or null when it exists.
 * Synchronous: a few system calls with nothing to overlap them with, where each asynchronous one would
 * cost a round trip through libuv's thread pool.
 */
function tryCreate(path: string, content: string, mode: number): number | null {
  let fd: number;
  try {
    fd = openSync(path, CREATE_FLAGS, mode);
  } catch (e) {
    if (errCode(e) === "EEXIST") return null;
    throw lockIoError(path, e);
  }
  try {
    // The umask must not make a shared store's lock unusable by the group. A private mode (0600) has
    // nothing for the umask to take that matters, so it is left alone.
    if ((mode & 0o077) !== 0) fchmodSync(fd, mode);
    const bytes = Buffer.from(content);
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off);
  } catch (e) {
    closeSync(fd);
    try {
      unlinkSync(path);
    } catch {
      // best effort: a lock file with no readable holder is judged stale after a while
    }
    throw lockIoError(path, e);
  }
  return fd;
}

type Seen = { raw: string; holder: Holder | null };

/** A lock's content is one short line; a longer file is junk, and is read no further than this. */
const MAX_LOCK_BYTES = 4096;

/**
 * The lock file's content and the holder it names, or "gone". Opened without blocking and read only when
 * it is a regular file: a FIFO planted at the lock's path would otherwise block every guard that looks at
 * it, past any time bound.
 */
function readHolder(path: string): Seen | "gone" {
  const opened = openRegular(path, { noFollow: true });
  if ("fail" in opened) {
    if (opened.fail === "missing") return "gone";
    if (opened.fail === "symlink") throw integrityError(`the lock file ${path} is a symlink`, "Someone planted it: inspect the store, then remove it.");
    if (opened.fail === "not-regular") throw integrityError(`the lock file ${path} is not a regular file`, "Someone planted it: inspect the store, then remove it.");
    throw lockIoError(path, opened.error);
  }
  let raw: string;
  try {
    const buf = Buffer.alloc(MAX_LOCK_BYTES);
    raw = buf.toString("utf8", 0, readSync(opened.fd, buf, 0, buf.length, 0));
  } catch (e) {
    throw lockIoError(path, e);
  } finally {
    closeSync(opened.fd);
  }
  return { raw, holder: parseHolder(raw) };
}

function parseHolder(raw: string): Holder | null {
  try {
    const h = JSON.parse(raw) as Partial<Holder>;
    if (typeof h.pid === "number" && Number.isSafeInteger(h.pid) && h.pid > 0 && typeof h.host === "string" && typeof h.token === "string") {
      return {
        pid: h.pid,
        host: h.host,
        token: h.token,
        since: typeof h.since === "string" ? h.since : "?",
        ...(typeof h.start === "string" && TICKS_RE.test(h.start) ? { start: h.start } : {}),
        ...(typeof h.boot === "string" && BOOT_ID_RE.test(h.boot) ? { boot: h.boot } : {}),
      };
    }
  } catch {
    // fall through: unreadable content
  }
  return null;
}

/** What is at a lock's path, judged: free, stale (safe to break), held by a live local process, or held on another host. */
export type LockState =
  | { kind: "free" }
  | { kind: "stale"; raw: string; holder: Holder | null; why: string; ageMs: number }
  | { kind: "live"; raw: string; holder: Holder | null; ageMs: number }
  | { kind: "other-host"; raw: string; holder: Holder; ageMs: number };

export async function inspectLock(path: string): Promise<LockState> {
  return inspectLockSync(path);
}

/**
 * Synchronous, as taking the lock is: a guard waiting for the lock looks at it again and again while
 * others hold it, and each look through the thread pool would cost it several trips through the
 * scheduler — when many wait at once (the racers for one approval), each a wait for the CPU.
 */
function inspectLockSync(path: string): LockState {
  const seen = readHolder(path);
  if (seen === "gone") return { kind: "free" };
  const st = lstatOrNull(path);
  if (st === null) return { kind: "free" };
  const ageMs = Math.max(0, Date.now() - st.mtimeMs);
  const { raw } = seen;
  const h = seen.holder;
  const stale = (why: string): LockState => ({ kind: "stale", raw, holder: h, why, ageMs });
  if (h === null) {
    // Crash between O_EXCL create and write, or junk: stale once old enough that no writer is mid-way.
    return ageMs > UNREADABLE_STALE_MS ? stale("its content is not a lock holder") : { kind: "live", raw, holder: null, ageMs };
  }
  if (h.host !== hostname()) return { kind: "other-host", raw, holder: h, ageMs };
  if (h.pid === process.pid) return held.has(h.token) ? { kind: "live", raw, holder: h, ageMs } : stale("this process does not hold it");
  const self = selfIdentity();
  if (h.boot !== undefined && self.boot !== undefined && h.boot !== self.boot) return stale("it was taken before this host last booted");
  if (!pidAlive(h.pid)) return stale(`process ${h.pid} is no longer running`);
  if (self.start !== undefined) {
    // Linux: the pid is alive, but is it the holder?
    const start = processStart(h.pid);
    if (h.start === undefined) {
      if (ageMs > UNREADABLE_STALE_MS) return stale(`it records no process start time, so process ${h.pid} cannot be shown to be its holder`);
    } else if (start !== undefined && start !== h.start) {
      return stale(`process ${h.pid} is running but started at another time: the pid was reused by an unrelated process`);
    }
  }
  return { kind: "live", raw, holder: h, ageMs };
}

/**
 * Remove a lock judged stale (or cleared by a person: `guard store unlock`) only if its content is still
 * `raw`, under the `<lock>.break` file: never a fresh lock that another process took meanwhile.
 */
export async function removeLock(lockPath: string, raw: string, mode = 0o600): Promise<boolean> {
  const breaker = `${lockPath}.break`;
  const fd = tryCreate(breaker, `${process.pid}\n`, mode);
  if (fd === null) return false;
  closeSync(fd);
  try {
    const now = readHolder(lockPath);
    if (now === "gone" || now.raw !== raw) return false;
    return await fsp.unlink(lockPath).then(
      () => true,
      () => false,
    );
  } finally {
    await fsp.unlink(breaker).catch(() => undefined);
  }
}

/** The holder as a person reads it: pid, host and how long the lock has been held (store text escaped). */
export function describeHolder(state: Exclude<LockState, { kind: "free" }>): string {
  const age = formatDuration(Math.round(state.ageMs / 1000));
  const h = state.holder;
  if (h === null) return `an unreadable holder (lock file ${age} old)`;
  return `pid ${h.pid} on host ${esc(h.host)} (held for ${age}, since ${esc(h.since)})`;
}

/** The command that clears a lock held on `host`, once a person has checked that nothing runs there. */
export function unlockCommand(host: string): string {
  return quoteArgv(["guard", "store", "unlock", "--host", esc(host)]);
}

function lockedError(what: string, lockPath: string, state: LockState, timeoutMs: number): GuardError {
  const waited = `gave up after ${(timeoutMs / 1000).toFixed(1)} s (lock file ${lockPath})`;
  if (state.kind === "free" || state.kind === "stale") return ioError(`${what} stayed locked; ${waited}`, "Retry.");
  if (state.kind === "other-host") {
    return ioError(
      `${what} is locked by ${describeHolder(state)}, another host; guard never breaks a lock held on another host; ${waited}`,
      `If no guard is running on ${esc(state.holder.host)} any more (check there), clear the lock with: ${unlockCommand(state.holder.host)}`,
    );
  }
  return ioError(
    `${what} is locked by ${describeHolder(state)}, which is still running on this host; ${waited}`,
    "Wait for it to finish and retry; if it hangs, stop that process (guard then takes the lock over).",
  );
}

/** This process's start time and boot id (Linux; undefined elsewhere), read once. */
let selfId: { start?: string; boot?: string } | undefined;
function selfIdentity(): { start?: string; boot?: string } {
  if (selfId) return selfId;
  const start = processStart(process.pid);
  let boot: string | undefined;
  try {
    const b = readFileSync("/proc/sys/kernel/random/boot_id", "latin1").trim();
    if (BOOT_ID_RE.test(b)) boot = b;
  } catch {
    // no /proc: not Linux
  }
  selfId = { ...(start !== undefined ? { start } : {}), ...(boot !== undefined ? { boot } : {}) };
  return selfId;
}

const BOOT_ID_RE = /^[0-9a-f-]{36}$/;
const TICKS_RE = /^\d{1,20}$/;

/** Field 22 of /proc/PID/stat (start time in clock ticks since boot), or undefined when it cannot be read. */
function processStart(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid …": comm may hold spaces and parentheses, so count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const start = fields[22 - 3];
  return start !== undefined && TICKS_RE.test(start) ? start : undefined;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errCode(e) === "EPERM"; // exists, owned by someone else
  }
}

async function breakStale(lockPath: string, staleRaw: string, mode: number): Promise<void> {
  if (await removeLock(lockPath, staleRaw, mode)) return;
  // Someone else is breaking it. A breaker whose owner died mid-way is cleared after a while.
  const breaker = `${lockPath}.break`;
  const st = await fsp.lstat(breaker).catch(() => null);
  if (st !== null && Date.now() - st.mtimeMs > UNREADABLE_STALE_MS) await fsp.unlink(breaker).catch(() => undefined);
  await sleep(5);
}

function lockIoError(path: string, e: unknown): GuardError {
  if (e instanceof GuardError) return e;
  return new GuardError(
    ExitCode.IO,
    `cannot create the lock file ${path}: ${errCode(e) ?? String(e)}`,
    "Check that the store directory exists, is writable by you and its file system is not full or read-only.",
    [],
    "io",
  );
}

function errCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | null)?.code;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
