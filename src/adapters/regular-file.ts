import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, statSync, type Stats } from "node:fs";

/**
 * Opening a file whose path someone else controls (a store writer, a policy author, the user's
 * environment), the one way guard does it (SECURITY S27):
 *
 * - without blocking (O_NONBLOCK): a FIFO opens at once, whether anyone writes it or not, and is then
 *   refused as not a regular file, so that a FIFO planted at the path cannot hang guard;
 * - with `noFollow`, not through a symlink at the path (O_NOFOLLOW): `{ fail: "symlink" }`;
 * - judged by the descriptor it opened (fstat), never by an earlier look at the path: a regular file,
 *   or `{ fail: "not-regular", st }` (a directory; a device such as /dev/zero, which never ends; a FIFO);
 * - read (readOpened, readRegular) no further than `max` bytes: by its size when opened, and by what is
 *   read, so that a file that grows past `max` meanwhile is refused too, never read on.
 *
 * What a failure means (a miss, a 65, a message) is the caller's: each keeps its own checks (owner and
 * mode, a size that says "planted") and messages. Synchronous calls: small files, where an asynchronous
 * call would be a trip through libuv's thread pool (the first one starting it).
 */

/** Read only, without blocking, not through a symlink: the flags of openRegular with `noFollow`. */
export const READ_NOFOLLOW = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const READ = constants.O_RDONLY | constants.O_NONBLOCK;

/** A regular file opened for reading, and what fstat said of it. The caller closes `fd`. */
export interface OpenedFile {
  fd: number;
  st: Stats;
}

/**
 * Why a file was not opened as a regular one. `missing` is ENOENT; `symlink` is ELOOP with `noFollow`;
 * `error` is any other failure, of the open (`op: "open"`) or of fstat or a read (`op: "read"`). The
 * error is the one the system call threw, for the caller's message.
 */
export type OpenFailure =
  | { fail: "missing"; error: NodeJS.ErrnoException }
  | { fail: "symlink"; error: NodeJS.ErrnoException }
  | { fail: "not-regular"; st: Stats }
  | { fail: "error"; op: "open" | "read"; error: NodeJS.ErrnoException };

/** Larger than `max`: `size` is the file's size when opened, or (grown while read) the bytes read. */
export interface TooLarge {
  fail: "too-large";
  size: number;
}

export type ReadFailure = OpenFailure | TooLarge;

/** Open `path` for reading without blocking, and keep it open only when it is a regular file. */
export function openRegular(path: string, opts: { noFollow?: boolean } = {}): OpenedFile | OpenFailure {
  let fd: number;
  try {
    fd = openSync(path, opts.noFollow ? READ_NOFOLLOW : READ);
  } catch (e) {
    const error = e as NodeJS.ErrnoException;
    if (error.code === "ENOENT") return { fail: "missing", error };
    if (error.code === "ELOOP" && opts.noFollow) return { fail: "symlink", error };
    return { fail: "error", op: "open", error };
  }
  let failure: OpenFailure;
  try {
    const st = fstatSync(fd);
    if (st.isFile()) return { fd, st };
    failure = { fail: "not-regular", st };
  } catch (e) {
    failure = { fail: "error", op: "read", error: e as NodeJS.ErrnoException };
  }
  closeSync(fd);
  return failure;
}

/**
 * The bytes of the regular file open at `fd` (from openRegular, with its `st`), read from its start: at
 * most one byte more than its size when opened, and refused when that is more than `max` (a file that
 * grew past `max` while it was read). A read error is thrown.
 */
export function readOpened(fd: number, st: Stats, max: number): Buffer | TooLarge {
  if (st.size > max) return { fail: "too-large", size: st.size };
  const buf = Buffer.allocUnsafe(st.size + 1);
  let n = 0;
  for (let got = -1; got !== 0 && n < buf.length; n += got) got = readSync(fd, buf, n, buf.length - n, n);
  return n > max ? { fail: "too-large", size: n } : buf.subarray(0, n);
}

/** openRegular, then readOpened, then close: the bytes of a regular file of at most `max` bytes. */
export function readRegular(path: string, opts: { noFollow?: boolean; max: number }): { bytes: Buffer; st: Stats } | ReadFailure {
  const opened = openRegular(path, opts);
  if ("fail" in opened) return opened;
  try {
    const bytes = readOpened(opened.fd, opened.st, opts.max);
    return "fail" in bytes ? bytes : { bytes, st: opened.st };
  } catch (e) {
    return { fail: "error", op: "read", error: e as NodeJS.ErrnoException };
  } finally {
    closeSync(opened.fd);
  }
}

/** What a file that is not a regular one is, for messages (one wording wherever guard refuses one). */
export function fileKindOf(st: Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO or pipe";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSymbolicLink()) return "a symbolic link";
  return "not a regular file";
}

/** Whether `st` is the null device (by its device number, as /dev/null's own). */
export function isDevNull(st: Stats): boolean {
  try {
    const devNull = statSync("/dev/null");
    return devNull.isCharacterDevice() && devNull.rdev === st.rdev;
  } catch {
    return false;
  }
}

/** What lstat says of `path`, or null when it cannot say (missing, unreadable): for best-effort sweeps and looks. */
export function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}
