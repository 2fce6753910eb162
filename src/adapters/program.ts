/**
 * The program that would run: where argv[0] really leads, what its bytes hash to, and whether it is
 * still the same file just before exec.
 *
 * Why a re-check and not a guarantee (the residual window, for the README):
 *   guard hashes the program when it builds the request, and again in `verifyUnchanged` immediately
 *   before exec, comparing the path's inode, size, times and content with what was bound. Between that
 *   last check and the kernel's execve the path can still, in principle, be swapped: Node cannot
 *   fexecve an already-opened, already-hashed descriptor, and a private copy would change `$0` and
 *   break scripts that source files next to themselves. The window is a few microseconds, any swap
 *   before it is refused (exit 77), and the audit log records the hash that was approved. A local user
 *   who can write to the script or its directory can still race that window, or simply change a file
 *   the script sources: against someone with write access to what runs, no wrapper is a control. Keep
 *   approved scripts in directories only their owners (or root) can write.
 *
 * What is not hashed (C5): files a script sources or reads, code it downloads, the interpreter named
 * on its `#!` line (with `#!/usr/bin/env X`, the X found on PATH at run time) and a binary's shared
 * libraries. `describeProgram` reports the `#!` line so the approver at least sees which interpreter.
 */
import { createHash } from "node:crypto";
// Synchronous calls throughout: metadata on the start-up path (resolving the program), and the program's
// bytes for an approved run (see openNoFollow).
import { accessSync, closeSync, constants, fstatSync, lstatSync, openSync, readlinkSync, readSync, realpathSync, statSync } from "node:fs";
import type { Stats } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { relativeInside } from "../core/derive.js";
import { fileKindOf } from "./regular-file.js";
import type { ProgramLink, ProgramVia, ResolvedProgram } from "../core/types.js";
import { configError, deniedError, ExitCode, GuardError, usageError } from "../core/errors.js";

/** What identifies the file on disk, besides its content. */
export interface FileIdentity {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  mode: number;
}

export interface ProgramHash {
  /** SHA-256 hex of the file's bytes. */
  sha256: string;
  identity: FileIdentity;
}

export interface ProgramDescription {
  /**
   * "binary": an executable format the kernel runs itself (ELF, Mach-O).
   * "script": starts with a `#!` line. "shell": neither; the kernel refuses it (ENOEXEC) and execvp,
   * as every shell does, runs it with /bin/sh instead.
   */
  kind: "binary" | "script" | "shell";
  /** The `#!` line as written, without its line end (not escaped: escape it before display). */
  interpreter: string | null;
  /** What guard cannot bind for this program, in words the approver can read. */
  limits: string[];
}

/** glibc execvp's search path when PATH is unset (confstr _CS_PATH). */
const DEFAULT_PATH = "/bin:/usr/bin";
/** The kernel reads at most this much of a `#!` line (BINPRM_BUF_SIZE). */
const SHEBANG_MAX = 256;
const HASH_CHUNK = 1 << 18;

const CHANGED_HINT =
  "do not edit, move or replace the program between approval and run; if the change is intended, create a new request so that an approver sees the new content";

/**
 * Resolve argv[0] the way execvp would, then to its real path (`..` and symlinks resolved: C1).
 *
 * With a '/', argv[0] is taken relative to `cwd`. Without one, each PATH entry is tried in order; as in
 * POSIX, an empty entry (and ".", or any relative entry) means a directory relative to `cwd`, so
 * `PATH=./evil:$PATH` really does shadow `psql` (C3): the resolved path differs and the binding catches it.
 * As in execvp and bash, directories and files without execute permission are skipped in the search; if
 * nothing runnable is found but such a file was seen, that is "not executable" (126), else "not found" (127).
 * This runs before anything is decided or consumed (X5).
 */
export async function resolveProgram(
  argv0: string,
  opts: { cwd: string; path: string | undefined; policyRoot: string },
): Promise<ResolvedProgram> {
  if (argv0 === "") {
    throw new GuardError(ExitCode.NOT_FOUND, "command not found: the command name is empty", "give the command after `--`, e.g. guard run -- ./scripts/task.sh");
  }
  if (argv0.includes("\0")) throw usageError("the command name contains a NUL byte", "pass the command name exactly, without NUL bytes");

  const candidate = argv0.includes("/") ? resolve(opts.cwd, argv0) : await searchPath(argv0, opts.cwd, opts.path);
  const real = await realPathOf(candidate, argv0);
  const st = await statOrThrow(real, argv0);
  await assertExecutable(real, st, argv0);
  const via = viaOf(candidate, real, argv0);

  const root = await realPolicyRoot(opts.policyRoot);
  const program: ResolvedProgram = { given: argv0, path: real, relativeToRoot: relativeInside(root, real), base: basename(real), givenBase: basename(argv0) };
  if (via) program.via = via;
  return program;
}

// ---------------------------------------------------------------------------------------------
// Programs reached through symbolic links (issue 19)
//
// On Debian and Ubuntu /usr/bin/psql is a link to pg_wrapper, which picks the client by the name it was
// started by; busybox applets work the same way. A `#!` script sees the path the kernel executed, so
// guard executes the path it found (on PATH, or as given), not the real path. What is hashed, checked
// and recorded is still the real file. The path executed is safe to hand to execve only if nobody but
// root and the user can change where it leads, so every directory the resolution looks into and every
// link on the way must be owned by root or the user and writable by nobody else (a sticky directory
// such as /tmp is accepted only for an entry owned by root or the user, which nobody else may then
// rename or delete). Otherwise the run is refused (77). Immediately before exec the chain is walked
// again and must lead through the same links to the very file that was hashed.
// ---------------------------------------------------------------------------------------------

/** Linux follows at most 40 links in one resolution (MAXSYMLINKS). */
const MAX_LINKS = 40;

interface Walk {
  real: string;
  links: ProgramLink[];
  /** Why someone other than root or the user could change where the path leads (empty: nobody). */
  problems: string[];
}

/**
 * Resolve an absolute path component by component as the kernel does, recording every symbolic link
 * and judging every directory looked into and every link met. Throws the lstat error of a missing part.
 */
function walkPath(path: string): Walk {
  const me = process.getuid?.() ?? -1;
  const trusted = (uid: number): boolean => uid === 0 || uid === me;
  const links: ProgramLink[] = [];
  const problems: string[] = [];
  const judged = new Set<string>();
  const note = (p: string): void => {
    if (!problems.includes(p)) problems.push(p);
  };
  const pending = path.split("/");
  let current = "/";
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === "" || part === ".") continue;
    if (part === "..") {
      current = dirname(current);
      continue;
    }
    const dir = statSync(current);
    const next = current === "/" ? `/${part}` : `${current}/${part}`;
    const st = lstatSync(next);
    if (!judged.has(current)) {
      judged.add(current);
      if (!trusted(dir.uid)) note(`directory ${current} is owned by uid ${dir.uid}, not by root or you`);
      if ((dir.mode & 0o022) !== 0 && (dir.mode & 0o1000) === 0) note(`directory ${current} is writable by ${writers(dir.mode)} (mode ${formatMode(dir.mode)})`);
    }
    if ((dir.mode & 0o022) !== 0 && (dir.mode & 0o1000) !== 0 && !trusted(st.uid)) {
      note(`${next} is owned by uid ${st.uid} in the shared directory ${current} (mode ${formatMode(dir.mode)}), so its owner can replace it`);
    }
    if (st.isSymbolicLink()) {
      if (links.length >= MAX_LINKS) throw Object.assign(new Error(`too many symbolic links in ${path}`), { code: "ELOOP" });
      const target = readlinkSync(next);
      links.push({ path: next, target });
      if (!trusted(st.uid)) note(`symbolic link ${next} is owned by uid ${st.uid}, not by root or you`);
      if (target.startsWith("/")) current = "/";
      pending.unshift(...target.split("/"));
      continue;
    }
    current = next;
  }
  return { real: current, links, problems };
}

function writers(mode: number): string {
  return [mode & 0o020 ? "its group" : "", mode & 0o002 ? "everyone" : ""].filter(Boolean).join(" and ");
}

/** The path found and its links when it is not the real path; refused (77) when others could change them. */
function viaOf(candidate: string, real: string, given: string): ProgramVia | undefined {
  let walk: Walk;
  try {
    walk = walkPath(candidate);
  } catch (error) {
    throw lookupFailure(error, given, candidate);
  }
  if (walk.links.length === 0 && walk.real === real) return undefined;
  if (walk.real !== real) throw changed(`${candidate} led to ${walk.real} and then to ${real} while guard resolved it`);
  const via = { path: candidate, links: walk.links };
  if (walk.problems.length > 0) throw unsafeLinks(given, via, walk.problems);
  return via;
}

function unsafeLinks(given: string, via: ProgramVia, problems: string[]): GuardError {
  return deniedError(
    `refused to run ${given} through symbolic links that someone other than root or you can change: ${problems[0]}`,
    `guard runs a program reached through a link by the link's path (multi-call programs such as pg_wrapper and busybox need their name), so every link and every directory on the way must be owned by root or you and writable by nobody else: fix the owner or mode (e.g. chmod go-w DIR) of what is named here, or give the real file's path if the program does not need its link's name`,
    [...problems.slice(1), ...via.links.map((l) => `link: ${l.path} -> ${l.target}`)],
  );
}

/**
 * Immediately before exec, for a program reached through links: the path still leads, through the same
 * links, to the real path that was resolved, and (when it was hashed) to the very file that was hashed;
 * and nobody else can change the chain now either. Any difference is a refusal (77).
 */
export async function verifyChain(program: ResolvedProgram, hashedIdentity: FileIdentity | null): Promise<void> {
  const via = program.via;
  if (!via) return;
  let walk: Walk;
  try {
    walk = walkPath(via.path);
  } catch (error) {
    throw changed(`${via.path} no longer resolves (${errnoCode(error) ?? "unknown error"})`);
  }
  const was = via.links.map((l) => `${l.path} -> ${l.target}`);
  const now = walk.links.map((l) => `${l.path} -> ${l.target}`);
  if (was.join("\n") !== now.join("\n") || walk.real !== program.path) {
    throw changed(`the symbolic links from ${via.path} were changed`, [...was.map((l) => `resolved: ${l}`), ...now.map((l) => `now:      ${l}`), `now leads to ${walk.real}`]);
  }
  if (walk.problems.length > 0) throw unsafeLinks(program.given, via, walk.problems);
  if (hashedIdentity) {
    const st = statSync(via.path, { throwIfNoEntry: false });
    if (!st || st.dev !== hashedIdentity.dev || st.ino !== hashedIdentity.ino) {
      throw changed(`${via.path} no longer leads to the file that was hashed`, [`hashed: ${hashedIdentity.dev}:${hashedIdentity.ino}`, `now:    ${st ? `${st.dev}:${st.ino}` : "(gone)"}`]);
    }
  }
}

async function searchPath(name: string, cwd: string, pathVar: string | undefined): Promise<string> {
  const entries = (pathVar ?? DEFAULT_PATH).split(":");
  let notRunnable: string | null = null;
  for (const entry of entries) {
    const candidate = join(entry === "" ? cwd : resolve(cwd, entry), name);
    let st: Stats;
    try {
      st = statSync(candidate);
    } catch {
      // ENOENT, ENOTDIR, EACCES on a directory, ELOOP: execvp moves on to the next entry for all of these.
      continue;
    }
    if (st.isFile() && (await isExecutableByMe(candidate, st))) return candidate;
    // As bash does: a directory of that name is no candidate at all; a file that is not runnable is
    // remembered, so that "not executable" (126) wins over "not found" (127).
    if (!st.isDirectory()) notRunnable ??= candidate;
  }
  // Reported the same way as an explicit path, by the checks in resolveProgram.
  if (notRunnable) return notRunnable;
  throw new GuardError(
    ExitCode.NOT_FOUND,
    `command not found: ${name}`,
    `check the spelling, or give an explicit path (e.g. ./${name}); guard searched the PATH it was given`,
    [`PATH: ${pathVar ?? `(unset; searched ${DEFAULT_PATH})`}`],
  );
}

async function realPathOf(candidate: string, given: string): Promise<string> {
  try {
    return realpathSync(candidate);
  } catch (error) {
    throw lookupFailure(error, given, candidate);
  }
}

async function statOrThrow(real: string, given: string): Promise<Stats> {
  try {
    return statSync(real);
  } catch (error) {
    throw lookupFailure(error, given, real);
  }
}

function lookupFailure(error: unknown, given: string, where: string): GuardError {
  const code = errnoCode(error);
  if (code === "ENOENT" || code === "ENOTDIR") {
    return new GuardError(ExitCode.NOT_FOUND, `command not found: ${given}`, "check the path; it is taken relative to the working directory", [`looked for ${where}`]);
  }
  return new GuardError(
    ExitCode.NOT_EXECUTABLE,
    `not executable: ${given} (${code ?? "unknown error"} while resolving ${where})`,
    "check that every directory on the way is searchable by you and that no symbolic link loops",
  );
}

async function assertExecutable(real: string, st: Stats, given: string): Promise<void> {
  const details = real === given ? [] : [`resolved to ${real}`];
  if (st.isDirectory()) {
    throw new GuardError(ExitCode.NOT_EXECUTABLE, `not executable: ${given} is a directory`, "name the script or program inside it", details);
  }
  if (!st.isFile()) {
    throw new GuardError(ExitCode.NOT_EXECUTABLE, `not executable: ${given} is not a regular file (${fileKindOf(st)})`, "name a script or program file", details);
  }
  if (!(await isExecutableByMe(real, st))) {
    throw new GuardError(
      ExitCode.NOT_EXECUTABLE,
      `not executable: ${given} (mode ${formatMode(st.mode)})`,
      `make it executable (chmod +x ${real}) or run it through its interpreter (e.g. guard run -- bash ${given})`,
      details,
    );
  }
}

/**
 * access(X_OK) answers for the real user, which is what execve checks. As root it says yes when ANY
 * execute bit is set, and on some systems even when none is: the mode check makes "no x bit at all"
 * a refusal for everyone.
 */
async function isExecutableByMe(file: string, st: Stats): Promise<boolean> {
  if ((st.mode & 0o111) === 0) return false;
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function realPolicyRoot(policyRoot: string): Promise<string> {
  try {
    return realpathSync(policyRoot);
  } catch (error) {
    throw configError(`the policy root ${policyRoot} cannot be resolved (${errnoCode(error) ?? "unknown error"})`, "check the policy directory setting (--policy, GUARD_POLICY or guard.config.yaml)");
  }
}

/**
 * Hash the program's bytes from one descriptor, opened without following a final symlink (the path was
 * realpath'ed already, so a symlink here means it was swapped: C2), and take its identity from the same
 * descriptor. A file that changes while it is being read is refused.
 */
export async function hashProgram(realPath: string): Promise<ProgramHash> {
  const fd = openNoFollow(realPath);
  try {
    const before = fstatSync(fd);
    if (!before.isFile()) throw changed(`${realPath} is no longer a regular file (${fileKindOf(before)})`);
    const hash = createHash("sha256");
    const buffer = Buffer.allocUnsafe(HASH_CHUNK);
    let position = 0;
    for (;;) {
      const bytesRead = readSync(fd, buffer, 0, buffer.length, position);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      position += bytesRead;
    }
    const after = fstatSync(fd);
    const identity = identityOf(after);
    if (position !== after.size || identityDifferences(identityOf(before), identity).length > 0) {
      throw changed(`${realPath} was modified while guard was reading it`);
    }
    return { sha256: hash.digest("hex"), identity };
  } finally {
    closeSync(fd);
  }
}

/**
 * Called immediately before exec: the path must still be the very file that was hashed (not a symlink,
 * same device, inode, size, times and mode) with the same content (C2, C4). Every difference is named.
 */
export async function verifyUnchanged(realPath: string, expected: ProgramHash): Promise<void> {
  let st: Stats;
  try {
    st = lstatSync(realPath);
  } catch (error) {
    throw changed(`${realPath} is gone (${errnoCode(error) ?? "unknown error"})`);
  }
  if (st.isSymbolicLink()) {
    let target = "?";
    try {
      target = readlinkSync(realPath);
    } catch {
      // shown as "?"
    }
    throw changed(`${realPath} was replaced by a symbolic link`, [`${realPath} -> ${target}`]);
  }

  const problems = identityDifferences(expected.identity, identityOf(st));
  // Re-open and re-hash even when the metadata matches: the content is what was approved.
  const now = await hashProgram(realPath);
  for (const p of identityDifferences(expected.identity, now.identity)) if (!problems.includes(p)) problems.push(p);
  if (now.sha256 !== expected.sha256) {
    problems.unshift(`program SHA-256 differs from the approved one: approved ${expected.sha256.slice(0, 16)}…, now ${now.sha256.slice(0, 16)}…`);
  }
  const [headline, ...rest] = problems;
  if (headline === undefined) return;
  const details = [`program: ${realPath}`, ...rest];
  if (now.sha256 !== expected.sha256) details.push(`approved SHA-256 ${expected.sha256}`, `current  SHA-256 ${now.sha256}`);
  throw deniedError(headline, CHANGED_HINT, details);
}

/** The first bytes of the program, for the approver: its `#!` line and what guard does not hash. */
export async function describeProgram(realPath: string): Promise<ProgramDescription> {
  const fd = openNoFollow(realPath);
  let head: Buffer;
  try {
    const buffer = Buffer.alloc(SHEBANG_MAX);
    head = buffer.subarray(0, readSync(fd, buffer, 0, SHEBANG_MAX, 0));
  } finally {
    closeSync(fd);
  }

  if (isNativeBinary(head)) {
    return { kind: "binary", interpreter: null, limits: ["shared libraries and files the program reads are not hashed"] };
  }
  const scriptLimits = ["files the script sources or reads, and code it downloads, are not hashed"];
  if (head[0] === 0x23 && head[1] === 0x21) {
    const end = head.indexOf(0x0a);
    const line = head.subarray(0, end === -1 ? head.length : end).toString("utf8").replace(/\r$/, "");
    const viaEnv = /^#!\s*\/usr\/bin\/env\s/.test(line);
    const interpreterLimit = viaEnv
      ? "the interpreter is looked up on PATH when the script starts and is not hashed"
      : "the interpreter itself is not hashed";
    return { kind: "script", interpreter: line, limits: [...scriptLimits, interpreterLimit] };
  }
  return { kind: "shell", interpreter: null, limits: ["no #! line: it runs with /bin/sh", ...scriptLimits] };
}

/**
 * X5: a script whose `#!` interpreter is missing or not executable passes resolveProgram (the script
 * itself is there and executable) and would fail only at execve — after an approval was consumed. This
 * checks what execve will: the interpreter path on the `#!` line exists and is executable; for
 * `#!/usr/bin/env NAME`, NAME is found on the command's PATH. Called before anything is consumed.
 */
export async function assertInterpreterRunnable(realPath: string, given: string, opts: { cwd: string; path: string | undefined }): Promise<void> {
  const d = await describeProgram(realPath);
  if (d.kind !== "script" || d.interpreter === null) return;
  const words = d.interpreter.slice(2).trim().split(/[ \t]+/).filter(Boolean);
  const interpreter = words[0];
  if (interpreter === undefined) {
    throw new GuardError(ExitCode.NOT_EXECUTABLE, `not executable: ${given} has an empty #! line`, "put the interpreter's path on the #! line, e.g. #!/bin/sh");
  }
  const details = [`#! line: ${d.interpreter}`];
  const checkFile = async (file: string, what: string): Promise<void> => {
    let st: Stats;
    try {
      st = statSync(file);
    } catch {
      throw new GuardError(ExitCode.NOT_FOUND, `command not found: ${what} of ${given} does not exist`, "install it, or fix the #! line; nothing was run and no approval was used", details);
    }
    if (!st.isFile() || !(await isExecutableByMe(file, st))) {
      throw new GuardError(ExitCode.NOT_EXECUTABLE, `not executable: ${what} of ${given} (${file})`, "fix the interpreter's permissions or the #! line; nothing was run and no approval was used", details);
    }
  };
  const interpreterPath = resolve(opts.cwd, interpreter);
  await checkFile(interpreterPath, `the interpreter ${interpreter}`);
  if (basename(interpreterPath) === "env") {
    const name = words.slice(1).find((w) => !w.startsWith("-") && !w.includes("="));
    if (name === undefined || words.slice(1).some((w) => w.startsWith("-"))) return; // env options: execve cannot tell either
    try {
      await searchPath(name, opts.cwd, opts.path);
    } catch (error) {
      if (error instanceof GuardError) {
        throw new GuardError(error.exitCode, `${error.exitCode === ExitCode.NOT_FOUND ? "command not found" : "not executable"}: ${name}, named by the #! line of ${given}`, "install it or fix the #! line; nothing was run and no approval was used", details);
      }
      throw error;
    }
  }
}

const BINARY_MAGICS = [
  [0x7f, 0x45, 0x4c, 0x46], // ELF
  [0xfe, 0xed, 0xfa, 0xce], // Mach-O 32
  [0xfe, 0xed, 0xfa, 0xcf], // Mach-O 64
  [0xce, 0xfa, 0xed, 0xfe],
  [0xcf, 0xfa, 0xed, 0xfe],
  [0xca, 0xfe, 0xba, 0xbe], // Mach-O universal
];

function isNativeBinary(head: Buffer): boolean {
  return BINARY_MAGICS.some((magic) => magic.every((byte, i) => head[i] === byte));
}

/**
 * The program's descriptor. Programs are read with synchronous calls: a script is a few KiB, and a
 * binary of megabytes is read 256 KiB at a time either way, where every asynchronous call would be a
 * trip through libuv's thread pool (the first one starting it), slowest when many guards start at once.
 */
function openNoFollow(realPath: string): number {
  try {
    // O_NONBLOCK: a FIFO swapped in must not hang guard; it is refused as "not a regular file" instead.
    return openSync(realPath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ELOOP" || code === "EMLINK") throw changed(`${realPath} is now a symbolic link`);
    if (code === "ENOENT" || code === "ENOTDIR") throw changed(`${realPath} is gone`);
    if (code === "EACCES" || code === "EPERM") {
      throw new GuardError(
        ExitCode.NOT_EXECUTABLE,
        `guard cannot read ${realPath} to hash it (${code})`,
        "guard binds approvals to the program's content, so it must be readable by you (chmod u+r)",
      );
    }
    throw changed(`${realPath} could not be opened (${code ?? "unknown error"})`);
  }
}

function changed(what: string, details: string[] = []): GuardError {
  return deniedError(`the program changed while guard was checking it: ${what}`, CHANGED_HINT, details);
}

function identityOf(st: Stats): FileIdentity {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, mode: st.mode };
}

function identityDifferences(was: FileIdentity, now: FileIdentity): string[] {
  const out: string[] = [];
  if (was.dev !== now.dev || was.ino !== now.ino) {
    out.push(`program was replaced (inode changed: ${was.dev}:${was.ino} → ${now.dev}:${now.ino})`);
  }
  if (was.size !== now.size) out.push(`program size changed: ${was.size} → ${now.size} bytes`);
  if (was.mtimeMs !== now.mtimeMs) out.push(`program modification time changed: ${isoTime(was.mtimeMs)} → ${isoTime(now.mtimeMs)}`);
  if (was.mode !== now.mode) out.push(`program mode changed: ${formatMode(was.mode)} → ${formatMode(now.mode)}`);
  if (was.ctimeMs !== now.ctimeMs) {
    out.push(`program status-change time changed (content, permissions or links touched): ${isoTime(was.ctimeMs)} → ${isoTime(now.ctimeMs)}`);
  }
  return out;
}

function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

function formatMode(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, "0");
}

function errnoCode(error: unknown): string | undefined {
  return typeof error === "object" && error !== null && "code" in error && typeof error.code === "string" ? error.code : undefined;
}
