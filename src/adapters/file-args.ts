/**
 * What a run's arguments name on disk, for runs that need approval (never for allowed runs: they do not
 * pay for hashing). See src/core/file-args.ts for which arguments are looked at and what is bound.
 *
 * Limits (each refuses the request with exit 77 and says what to do; nothing is silently left unbound):
 * a file larger than MAX_FILE_BYTES, more than MAX_FILES names, a FIFO, socket or device (other than
 * /dev/null) — its content cannot be bound — and a name guard cannot look at (permission denied).
 */
import { createHash } from "node:crypto";
import { closeSync, constants, fstatSync, openSync, readSync, realpathSync, statSync } from "node:fs";
import type { Stats } from "node:fs";
import { resolve } from "node:path";
import { deniedError } from "../core/errors.js";
import { fileKindOf } from "./regular-file.js";
import { escapeForTerminal as esc, quoteArg } from "../core/escape.js";
import { MAX_FILE_BYTES, MAX_FILES, MAX_TEXT_BYTES, fileArgCandidates, textOf, type BoundFile } from "../core/file-args.js";

const CHUNK = 1 << 18;
/** Errors that mean "this argument names nothing on disk". */
const NOT_A_NAME = new Set(["ENOENT", "ENOTDIR", "ENAMETOOLONG", "ELOOP", "EINVAL"]);

function errnoCode(error: unknown): string | undefined {
  return typeof error === "object" && error !== null && "code" in error ? String((error as { code: unknown }).code) : undefined;
}

/** Every argument of `argv` that names a file, directory or /dev/null, relative to `cwd`, hashed. */
/**
 * `argv` is the run's argv as typed (what the request binds), `first` the index of the first argument of
 * the program that runs (after an `env NAME=VALUE …` prefix): indexes are into `argv`.
 */
export async function bindFileArguments(argv: readonly string[], cwd: string, first = 1): Promise<BoundFile[]> {
  const out: BoundFile[] = [];
  for (const { arg, name } of fileArgCandidates(argv, first)) {
    const where = `argv[${arg}] ${quoteArg(name)}`;
    const full = resolve(cwd, name);
    let st: Stats;
    let path: string;
    try {
      st = statSync(full);
      path = realpathSync.native(full);
    } catch (error) {
      const code = errnoCode(error);
      if (code !== undefined && NOT_A_NAME.has(code)) continue;
      throw deniedError(`${where}: guard cannot look at ${esc(full)} (${code ?? "unknown error"}), so it cannot bind it to the approval`, "make the file readable by you, or do not name it in a run that needs approval");
    }
    if (out.length >= MAX_FILES) {
      throw deniedError(`this run names more than ${MAX_FILES} files or directories in its arguments; guard binds at most ${MAX_FILES} to one approval`, "split the run, or pass the files in a directory or an archive named once");
    }
    if (st.isDirectory()) out.push({ arg, name, path, type: "directory" });
    else if (path === "/dev/null") out.push({ arg, name, path, type: "null" });
    else if (!st.isFile()) {
      throw deniedError(`${where} names ${esc(path)}, ${fileKindOf(st)}: its content cannot be shown to or bound by an approver`, "write the input to a regular file and name that file");
    } else {
      if (st.size > MAX_FILE_BYTES) {
        throw deniedError(
          `${where} names ${esc(path)}, ${st.size} bytes: guard binds files of at most ${MAX_FILE_BYTES} bytes (64 MiB) to an approval`,
          "make the file smaller, or pass a smaller file that names the large one together with its checksum",
        );
      }
      out.push({ arg, name, path, ...hashFile(path, where) });
    }
  }
  return out;
}

/**
 * SHA-256 and size of a regular file, with its content when it is small text; refuses a file changing
 * underneath. Synchronous calls, 256 KiB at a time: an asynchronous call each would be a trip through
 * libuv's thread pool (the first one starting it), slowest when many guards start at once.
 */
function hashFile(path: string, where: string): { type: "file"; size: number; sha256: string; text?: string } {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO swapped in since the stat must not hang guard. The real path has no links.
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    throw deniedError(`${where}: ${esc(path)} could not be read (${errnoCode(error) ?? "unknown error"}), so it cannot be bound to the approval`, "make the file readable by you");
  }
  try {
    const before = fstatSync(fd);
    if (!before.isFile()) throw deniedError(`${where}: ${esc(path)} is no longer a regular file`, "do not change files named in the run while guard reads them");
    if (before.size > MAX_FILE_BYTES) throw deniedError(`${where}: ${esc(path)} grew past ${MAX_FILE_BYTES} bytes while guard read it`);
    const hash = createHash("sha256");
    const buffer = Buffer.allocUnsafe(CHUNK);
    const head: Buffer[] = [];
    let position = 0;
    for (;;) {
      const bytesRead = readSync(fd, buffer, 0, buffer.length, position);
      if (bytesRead === 0) break;
      const chunk = buffer.subarray(0, bytesRead);
      hash.update(chunk);
      if (position <= MAX_TEXT_BYTES) head.push(Buffer.from(chunk.subarray(0, Math.max(0, MAX_TEXT_BYTES + 1 - position))));
      position += bytesRead;
      if (position > MAX_FILE_BYTES) throw deniedError(`${where}: ${esc(path)} grew past ${MAX_FILE_BYTES} bytes while guard read it`);
    }
    const after = fstatSync(fd);
    if (position !== after.size || before.size !== after.size || before.mtimeMs !== after.mtimeMs || before.ino !== after.ino) {
      throw deniedError(`${where}: ${esc(path)} was modified while guard was reading it`, "wait until nothing writes the file, then run again");
    }
    const text = position <= MAX_TEXT_BYTES ? textOf(Buffer.concat(head)) : undefined;
    return { type: "file", size: position, sha256: hash.digest("hex"), ...(text !== undefined ? { text } : {}) };
  } finally {
    closeSync(fd);
  }
}
