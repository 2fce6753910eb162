import { randomBytes } from "../random.js";
import { closeSync, constants, fchmodSync, fstatSync, lstatSync, openSync, promises as fsp, unlinkSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { ExitCode, GuardError, integrityError, ioError } from "../../core/errors.js";

/**
 * A lock file that serialises one critical section across processes on one host (the audit append).
 * Node has no flock(), and O_EXCL creation is atomic on every local file system, so the lock is a file
 * created with O_CREAT|O_EXCL holding `{pid, host, token}`.
 *
 * A holder that died leaves its file behind. It is stale when it names this host and a pid that no
 * longer exists (or this very process, with a token it does not hold: pid reuse). Breaking a stale
 * lock goes through a second O_EXCL file, `<lock>.break`, and re-reads the content under it, so two
 * processes that both saw the same stale lock cannot remove a fresh lock that a third one just took.
 * A lock held on another host, or by a live process for longer than the wait, is never broken: the
 * caller gets a 74 that names the holder and the file.
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

interface Holder {
  pid: number;
  host: string;
  token: string;
  since: string;
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
  const me: Holder = { pid: process.pid, host: hostname(), token: randomBytes(12).toString("hex"), since: "" };
  let delay = 2;
  for (;;) {
    me.since = new Date().toISOString();
    const fd = tryCreate(lockPath, `${JSON.stringify(me)}\n`, mode);
    if (fd !== null) {
      held.add(me.token);
      return { token: me.token, fd };
    }
    const seen = await readHolder(lockPath);
    if (seen !== "gone" && (await isStale(lockPath, seen))) {
      await breakStale(lockPath, seen.raw, mode);
      continue;
    }
    if (Date.now() >= deadline) {
      const who = seen === "gone" || seen.holder === null ? "another process" : `pid ${seen.holder.pid} on ${seen.holder.host} since ${seen.holder.since}`;
      throw ioError(
        `${what} is locked by ${who}; gave up after ${(timeoutMs / 1000).toFixed(1)} s (lock file ${lockPath})`,
        `If that process is gone (for instance on another host), remove ${lockPath} and retry.`,
      );
    }
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

async function readHolder(path: string): Promise<Seen | "gone"> {
  let raw: string;
  try {
    raw = await readNoFollow(path);
  } catch (e) {
    if (errCode(e) === "ENOENT") return "gone";
    if (errCode(e) === "ELOOP") throw integrityError(`the lock file ${path} is a symlink`, "Someone planted it: inspect the store, then remove it.");
    throw lockIoError(path, e);
  }
  return { raw, holder: parseHolder(raw) };
}

function parseHolder(raw: string): Holder | null {
  try {
    const h = JSON.parse(raw) as Partial<Holder>;
    if (typeof h.pid === "number" && Number.isSafeInteger(h.pid) && h.pid > 0 && typeof h.host === "string" && typeof h.token === "string") {
      return { pid: h.pid, host: h.host, token: h.token, since: typeof h.since === "string" ? h.since : "?" };
    }
  } catch {
    // fall through: unreadable content
  }
  return null;
}

async function isStale(path: string, seen: Seen): Promise<boolean> {
  const h = seen.holder;
  if (h === null) {
    // Crash between O_EXCL create and write, or junk: stale once old enough that no writer is mid-way.
    const st = await fsp.lstat(path).catch(() => null);
    return st !== null && Date.now() - st.mtimeMs > UNREADABLE_STALE_MS;
  }
  if (h.host !== hostname()) return false;
  if (h.pid === process.pid) return !held.has(h.token);
  return !pidAlive(h.pid);
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
  const breaker = `${lockPath}.break`;
  const fd = tryCreate(breaker, `${process.pid}\n`, mode);
  if (fd === null) {
    // Someone else is breaking it. A breaker whose owner died mid-way is cleared after a while.
    const st = await fsp.lstat(breaker).catch(() => null);
    if (st !== null && Date.now() - st.mtimeMs > UNREADABLE_STALE_MS) await fsp.unlink(breaker).catch(() => undefined);
    await sleep(5);
    return;
  }
  closeSync(fd);
  try {
    const now = await readHolder(lockPath);
    if (now !== "gone" && now.raw === staleRaw) await fsp.unlink(lockPath).catch(() => undefined);
  } finally {
    await fsp.unlink(breaker).catch(() => undefined);
  }
}

async function readNoFollow(path: string): Promise<string> {
  const fh = await fsp.open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    return await fh.readFile("utf8");
  } finally {
    await fh.close();
  }
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
