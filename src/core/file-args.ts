/**
 * File arguments bound by content (issue 14). An approver who approves `psql -f migration.sql` approves
 * the SQL in that file, not only its name: every argument that names an existing file is recorded in the
 * request by its real path, size and SHA-256 (and, for a small UTF-8 text file, its content, so that an
 * approver on another machine can read it), and compared again at run time.
 *
 * Pure: the adapter (src/adapters/file-args.ts) looks at the file system and hands the results in.
 *
 * Which arguments: every argument after argv[0] (the program is bound on its own) is looked at as a
 * path relative to the working directory; an argument with a `=` is also looked at after its first `=`
 * (`--file=x.sql`, `-var-file=prod.tfvars`, `if=disk.img`). The value after a flag (`-f x.sql`) is an
 * argument of its own and needs no special case. Not looked at: a value glued to a short flag (`-fx.sql`)
 * and names the program builds itself.
 */
import { sha256Hex } from "./canonical.js";
import { escapeForTerminal, quoteArg } from "./escape.js";

/** Largest file hashed (bytes): a bigger one refuses the request, it is never silently left unbound. */
export const MAX_FILE_BYTES = 64 * 1024 * 1024;
/** Most file arguments one request binds: more refuse the request. */
export const MAX_FILES = 32;
/** A file this small (bytes) that is valid UTF-8 without NUL is stored whole, for the approver to read. */
export const MAX_TEXT_BYTES = 4096;

/**
 * One argument that names something on disk when the request is made.
 * - `file`: a regular file (symbolic links resolved), bound by its real path, size and SHA-256;
 * - `directory`: bound by its real path only — its content is NOT bound (the approver is told so);
 * - `null`: /dev/null, which has no content to bind.
 */
export type BoundFile =
  | { arg: number; name: string; path: string; type: "file"; size: number; sha256: string; text?: string }
  | { arg: number; name: string; path: string; type: "directory" }
  | { arg: number; name: string; path: string; type: "null" };

/** The names an argument could refer to: the argument itself and, when it has a `=`, what follows it. */
export function fileArgCandidates(argv: readonly string[], first = 1): Array<{ arg: number; name: string }> {
  const out: Array<{ arg: number; name: string }> = [];
  for (let i = Math.max(1, first); i < argv.length; i++) {
    const a = argv[i]!;
    if (a !== "") out.push({ arg: i, name: a });
    const eq = a.indexOf("=");
    if (eq >= 0 && eq < a.length - 1) out.push({ arg: i, name: a.slice(eq + 1) });
  }
  return out;
}

/**
 * The content to store for the approver: the file's bytes as text when they are at most MAX_TEXT_BYTES
 * of valid UTF-8 without NUL (a byte-order mark kept), else undefined. What is stored always hashes to
 * the bound SHA-256 (validation checks it), so what the approver reads is what is bound.
 */
export function textOf(bytes: Uint8Array): string | undefined {
  if (bytes.length > MAX_TEXT_BYTES || bytes.includes(0)) return undefined;
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/** Whether a stored text is exactly the bound content (size and SHA-256 of its UTF-8 bytes). */
export function textMatches(text: string, size: number, sha256: string): boolean {
  const bytes = new TextEncoder().encode(text);
  return bytes.length === size && size <= MAX_TEXT_BYTES && sha256Hex(bytes) === sha256;
}

function key(f: { arg: number; name: string }): string {
  return `${f.arg}\u0000${f.name}`;
}

/** How one bound entry reads for a person: path, type, size, SHA-256; escaped. */
export function describeBoundFile(f: BoundFile | undefined): string {
  if (!f) return "(names no file)";
  const path = escapeForTerminal(f.path);
  if (f.type === "file") return `${path} (${f.size} bytes, sha256 ${f.sha256})`;
  if (f.type === "directory") return `${path} (a directory: bound by name only, its content is not bound)`;
  return `${path} (the null device)`;
}

/** One file argument that differs: which argument, and what was approved and what is there now. */
export interface FileDifference {
  arg: number;
  /** e.g. `argv[2] migration.sql` (escaped). */
  label: string;
  approved: string;
  current: string;
}

/**
 * Every difference between the files a request binds and the files the run's arguments name now: a
 * changed, removed, replaced or newly appearing file (or directory) is a difference. `approved` absent
 * (requests made before file arguments were bound) means no argument named a file.
 */
export function compareFiles(approved: readonly BoundFile[] | undefined, current: readonly BoundFile[]): FileDifference[] {
  const was = new Map((approved ?? []).map((f) => [key(f), f]));
  const now = new Map(current.map((f) => [key(f), f]));
  const keys = [...new Set([...was.keys(), ...now.keys()])];
  const out: FileDifference[] = [];
  for (const k of keys) {
    const a = was.get(k);
    const b = now.get(k);
    if (a && b && sameBinding(a, b)) continue;
    const f = (a ?? b)!;
    out.push({ arg: f.arg, label: `argv[${f.arg}] ${quoteArg(f.name)}`, approved: describeBoundFile(a), current: describeBoundFile(b) });
  }
  out.sort((x, y) => x.arg - y.arg || (x.label < y.label ? -1 : x.label > y.label ? 1 : 0));
  return out;
}

function sameBinding(a: BoundFile, b: BoundFile): boolean {
  if (a.path !== b.path || a.type !== b.type) return false;
  if (a.type !== "file" || b.type !== "file") return true;
  return a.size === b.size && a.sha256 === b.sha256;
}
