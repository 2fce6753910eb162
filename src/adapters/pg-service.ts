import { readFileSync } from "node:fs";
import { pgServiceFilePaths } from "../core/libpq.js";
import type { PgServiceFile } from "../core/types.js";

/** A service file larger than this is a mistake or an attack: detection fails closed on it. */
const MAX_BYTES = 1024 * 1024;

/**
 * The pg_service.conf files libpq would consult, in its order (see pgServiceFilePaths), read only when a
 * service is named somewhere. A missing file is skipped, as libpq skips it; any other problem is reported
 * in `error`, which makes detection fail closed.
 */
export async function readPgServiceFiles(env: Readonly<Record<string, string | undefined>>, home: string): Promise<PgServiceFile[]> {
  const out: PgServiceFile[] = [];
  for (const path of pgServiceFilePaths(env, home)) {
    try {
      const bytes = readFileSync(path); // synchronous: a small file, where an asynchronous read would start libuv's thread pool
      if (bytes.length > MAX_BYTES) out.push({ path, error: `larger than ${MAX_BYTES} bytes` });
      else out.push({ path, text: bytes.toString("utf8") });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOENT") out.push({ path, error: `cannot read (${code ?? (err as Error).message})` });
    }
  }
  return out;
}
