import { randomBytes } from "node:crypto";
import { constants, promises as fsp } from "node:fs";
import { join } from "node:path";

/** A new file, never through a symlink, never over an existing one. */
export const CREATE_FLAGS = constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW;

/**
 * Create `dir/name` holding `content`, never replacing a file of that name: a temporary file in the same
 * directory (O_EXCL), written and fsynced, then linked to its name — link() fails if the name exists, so
 * of two writers only one can win — and the temporary name removed. False when the name already exists;
 * any other failure is thrown as it came (callers name what they were writing). `exactMode` sets the
 * mode past the umask (a group-shared store). The directory is not fsynced: callers do, as they decide.
 */
export async function linkNewFile(dir: string, name: string, content: string | Uint8Array, mode: number, exactMode = false): Promise<boolean> {
  const tmp = join(dir, `.${name}.${randomBytes(8).toString("hex")}.tmp`);
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(tmp, CREATE_FLAGS, mode);
    if (exactMode) await fh.chmod(mode);
    await fh.writeFile(content);
    await fh.sync();
    await fh.close();
    fh = undefined;
    try {
      await fsp.link(tmp, join(dir, name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException | null)?.code === "EEXIST") return false;
      throw e;
    }
    return true;
  } finally {
    await fh?.close().catch(() => undefined);
    await fsp.unlink(tmp).catch(() => undefined);
  }
}
