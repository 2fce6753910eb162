import { readClientFile } from "./client-file.js";
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
    const read = readClientFile(path, MAX_BYTES);
    if ("bytes" in read) out.push({ path, text: read.bytes.toString("utf8") });
    else if ("error" in read) out.push({ path, error: read.error });
  }
  return out;
}
