import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from "node:fs";
import { isDevNull } from "./output.js";

/**
 * A file a client program reads to decide where it connects (a kubeconfig, pg_service.conf), read the
 * way detection needs: whole, bounded, and only when reading it cannot change what the client will see.
 *
 * - Missing: `{ missing: true }`, as the clients skip a missing file.
 * - A regular file of at most `max` bytes: its bytes (a file that grows past `max` while it is read too).
 * - /dev/null: empty, as the clients read it.
 * - Anything else is an error, which makes detection fail closed: a directory; a device such as /dev/zero,
 *   which never ends; a FIFO or the pipe of a process substitution (`KUBECONFIG=<(…)`), which guard
 *   could read only by taking its content away from the command, and which might never be written at all.
 *   It is opened without blocking, so a FIFO nobody writes cannot hang guard either.
 *
 * Synchronous calls: a small file, where an asynchronous read would start libuv's thread pool.
 */
export type ClientFile = { bytes: Buffer } | { missing: true } | { error: string };

export function readClientFile(path: string, max: number): ClientFile {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === "ENOENT" ? { missing: true } : { error: `cannot read (${code ?? (err as Error).message})` };
  }
  try {
    const st = fstatSync(fd);
    if (isDevNull(st)) return { bytes: Buffer.alloc(0) };
    if (!st.isFile()) return { error: `not a regular file (${fileKindOf(st)})` };
    if (st.size > max) return { error: `larger than ${max} bytes` };
    const buf = Buffer.allocUnsafe(st.size + 1);
    let n = 0;
    for (let got = -1; got !== 0 && n < buf.length; n += got) got = readSync(fd, buf, n, buf.length - n, n);
    if (n > max) return { error: `larger than ${max} bytes` };
    return { bytes: buf.subarray(0, n) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { error: `cannot read (${code ?? (err as Error).message})` };
  } finally {
    closeSync(fd);
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
