import { randomBytes } from "node:crypto";
import { closeSync, constants, fchmodSync, fsyncSync, linkSync, openSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** A new file, never through a symlink, never over an existing one. */
export const CREATE_FLAGS = constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW;

/**
 * Create `dir/name` holding `content`, never replacing a file of that name: a temporary file in the same
 * directory (O_EXCL), written and fsynced, then linked to its name — link() fails if the name exists, so
 * of two writers only one can win — and the temporary name removed. False when the name already exists;
 * any other failure is thrown as it came (callers name what they were writing). `exactMode` sets the
 * mode past the umask (a group-shared store). The directory is not fsynced: callers do, as they decide.
 * Synchronous calls: six of them, each of which would otherwise be a trip through libuv's thread pool
 * (the first one starting it), slowest when many guards race for the same consumption.
 */
export function linkNewFile(dir: string, name: string, content: string | Uint8Array, mode: number, exactMode = false): boolean {
  const tmp = join(dir, `.${name}.${randomBytes(8).toString("hex")}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, CREATE_FLAGS, mode);
    if (exactMode) fchmodSync(fd, mode);
    writeFileSync(fd, content);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    try {
      linkSync(tmp, join(dir, name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException | null)?.code === "EEXIST") return false;
      throw e;
    }
    return true;
  } finally {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // already failing
      }
    }
    try {
      unlinkSync(tmp);
    } catch {
      // never created, or already gone
    }
  }
}
