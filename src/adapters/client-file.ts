import { fileKindOf, isDevNull, readRegular } from "./regular-file.js";

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
 *   It is opened without blocking (regular-file.ts), so a FIFO nobody writes cannot hang guard either.
 */
export type ClientFile = { bytes: Buffer } | { missing: true } | { error: string };

export function readClientFile(path: string, max: number): ClientFile {
  const r = readRegular(path, { max });
  if (!("fail" in r)) return { bytes: r.bytes };
  if (r.fail === "missing") return { missing: true };
  if (r.fail === "not-regular") return isDevNull(r.st) ? { bytes: Buffer.alloc(0) } : { error: `not a regular file (${fileKindOf(r.st)})` };
  if (r.fail === "too-large") return { error: `larger than ${max} bytes` };
  return { error: `cannot read (${r.error.code ?? r.error.message})` };
}
