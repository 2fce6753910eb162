import { isAbsolute } from "node:path";
import { fileURLToPath } from "node:url";
import { usageError } from "../../core/errors.js";
import { openFileStore } from "./file.js";
import type { Store } from "./types.js";

const ACCEPTED = "Accepted: file:/absolute/path, /absolute/path, postgres://… or postgresql://…";

/**
 * Open the store named by --store / GUARD_STORE / `store:`. The PostgreSQL driver is imported only
 * when asked for, so the common path never loads pg.
 *
 * `create` (default true) creates a missing directory store on first use; read-only commands such as
 * `guard audit verify` pass false so that a mistyped path is an error, not a fresh empty store.
 */
export async function openStore(url: string, opts: { create?: boolean } = {}): Promise<Store> {
  if (/^postgres(ql)?:\/\//i.test(url)) {
    const { openPostgresStore } = await import("./postgres.js");
    return openPostgresStore(url);
  }
  return openFileStore(filePath(url), { create: opts.create ?? true });
}

/** The directory of a file store, or null for a PostgreSQL store. */
export function fileStoreDir(url: string): string | null {
  return /^postgres(ql)?:\/\//i.test(url) ? null : filePath(url);
}

function filePath(url: string): string {
  if (url.includes("\0")) throw usageError("the store location contains a NUL byte", ACCEPTED);
  if (url.startsWith("file:")) {
    // file:/abs is taken literally; file:///abs and file://localhost/abs are URLs (percent-decoded).
    // Anything relative or on another host is refused.
    let path: string;
    try {
      path = url.startsWith("file://") ? fileURLToPath(url) : url.slice("file:".length);
    } catch {
      throw usageError(`cannot read the store location ${JSON.stringify(url)}`, ACCEPTED);
    }
    if (path.includes("\0")) throw usageError("the store location contains a NUL byte", ACCEPTED);
    if (!isAbsolute(path)) throw usageError(`the store path in ${JSON.stringify(url)} is not absolute`, ACCEPTED);
    return path;
  }
  if (isAbsolute(url)) return url;
  throw usageError(`unsupported store location ${JSON.stringify(url)}`, ACCEPTED);
}
