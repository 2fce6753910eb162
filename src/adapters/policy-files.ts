/**
 * Reading a policy directory from disk, under the rules that make it trustworthy input (P10), then
 * handing the bytes to the pure loader.
 *
 * The directory is read flat, not recursively: every `*.yaml` / `*.yml` at its top level is a policy file
 * (`*.test.yaml` / `*.test.yml` are policy tests). A subdirectory is an error rather than ignored, because a
 * file someone put there expecting it to apply would otherwise be silently skipped. Dot-files are ignored
 * (editor and VCS droppings); other files (README.md) are ignored too. A symlinked entry is followed only
 * when it stays inside the directory.
 *
 * Every file and the directory itself must be owned by the current user or root and not writable by
 * others (see assertTrusted); no ancestor may be world-writable without the sticky bit (anyone could
 * swap the directory out). Problems are collected and reported together, as policy diagnostics (exit 78).
 */
// Synchronous reads: nothing else is under way while the policy loads, and a few dozen small reads cost
// a fraction of a millisecond this way, several milliseconds through the thread pool.
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readSync, realpathSync, statSync } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { ExitCode, GuardError, PolicyError, type Diagnostic } from "../core/errors.js";
import type { PolicyFile, PolicyTestCase } from "../core/policy/types.js";
import { isPolicyTestFile } from "../core/policy/test-files.js";
import type { Policy } from "../core/types.js";
import { assertTrusted } from "./config.js";
import { policyCacheKey, readCachedPolicy, writeCachedPolicy } from "./policy-cache.js";
import { loadRegexEngine, mayHoldRegex } from "./linear-regex.js";

/** The loader refuses files over 1 MiB; reading one byte more is enough for it to say so. */
const READ_LIMIT = 1024 * 1024 + 1;

const SETTING_HINT =
  "point guard at the policy directory with --policy DIR, GUARD_POLICY=DIR or `policies: DIR` in guard.config.yaml (`guard init` scaffolds one)";

export interface LoadedPolicyDir {
  policy: Policy;
  /** Lint warnings (errors throw). */
  warnings: Diagnostic[];
  tests: PolicyTestCase[];
  /** The files read, as displayed (relative to the working directory when inside it). */
  files: string[];
}

export interface LoadOptions {
  /**
   * Where validated policies are cached (Settings.policyCache); null or absent = no cache. The files are
   * read and trust-checked either way; only parsing and validation of unchanged bytes are skipped.
   */
  cacheDir?: string | null;
  /**
   * Read the policy tests (`*.test.yaml`) too: `guard policy test` and `guard policy lint` do, and fail on
   * them. Everything else (run, check, request, approve…) leaves them unread: tests are not policy, and a
   * typo in one must not block every run (issue 17 item 4).
   */
  tests?: boolean;
  /** The working directory file names are shown relative to (the runtime's); absolute names outside it. */
  cwd?: string;
}

export async function loadPolicyDir(dir: string, opts: LoadOptions = {}): Promise<LoadedPolicyDir> {
  const abs = resolve(dir);
  const realDir = openDirectory(abs);
  const problems: Diagnostic[] = [];
  const files = readPolicyFiles(abs, realDir, problems, opts.tests === true, opts.cwd);
  if (problems.length > 0) throw refusal(abs, problems);
  if (files.length === 0) {
    throw new PolicyError(`the policy directory ${abs} holds no policy files (*.yaml, *.yml)`, [], `add a policy file such as ${join(abs, "guard.yaml")}, or ${SETTING_HINT}`);
  }
  const root = dirname(abs);
  const shown = files.map((f) => f.path);
  const key = opts.cacheDir ? await policyCacheKey(root, files) : null;
  if (opts.cacheDir && key) {
    const hit = await readCachedPolicy(opts.cacheDir, key);
    if (hit) return { ...hit, files: shown };
  }
  // Imported here so that a cache hit never loads the YAML parser.
  const { parsePolicyFiles } = await import("../core/policy/parse.js");
  const regex = files.some((f) => mayHoldRegex(f.bytes)) ? await loadRegexEngine() : undefined;
  const parsed = await withParseTuning(files.reduce((n, f) => n + f.bytes.length, 0), () => parsePolicyFiles(files, root, { regex }));
  const errors = parsed.diagnostics.filter((d) => d.severity === "error");
  if (!parsed.policy || errors.length > 0) throw refusal(abs, errors);
  const loaded = { policy: parsed.policy, warnings: parsed.diagnostics.filter((d) => d.severity === "warning"), tests: parsed.tests };
  if (opts.cacheDir && key) await writeCachedPolicy(opts.cacheDir, key, loaded);
  return { ...loaded, files: shown };
}

/**
 * Run a policy parse with V8 tuned for one parse of known size: the young generation held at the size it
 * has and, for a policy of up to ONE_SHOT_BYTES, the optimising compilers off. Both are set with
 * `v8.setFlagsFromString`, which V8 reads when it grows the young generation and when it decides to
 * optimise a function, and both are put back when the parse ends, for whatever follows (a run, a long
 * `audit verify`). On a Node whose V8 ignored them, only memory and time would differ, never what the parse
 * returns. Measured in docs/benchmarks.md ("Cold memory"):
 *
 * - Young generation. Parsing keeps each file's YAML tree (and the model built so far) alive across many
 *   scavenges, and V8 answers such survival by doubling its young generation, 1 MB to 16 MB per
 *   semi-space on Node 20: a cold `guard check` at 1,000 rules peaked at ~96 MB of RSS, of which ~30 MB
 *   were young-generation pages touched once and never given back before the process exits. With the
 *   growth factor at 1, survivors are promoted to the old generation instead (the same objects, no more
 *   of them); the default factor (2) is back afterwards.
 * - Optimising compilers. A parse of a few hundred KB is over before TurboFan's (and on V8 ≥ 12, Maglev's)
 *   optimised code pays for compiling it on background threads, whose working memory stays in the
 *   process's peak: at 1,000 rules (150 KB), cold, they cost ~12 MB of peak RSS on Node 20 and ~15–25 MB
 *   on Node 24, and 15–30% more CPU time than the parse without them. Past ~2,500 rules (375 KB) the
 *   optimised code wins (at 10,000 rules it is 2.5–4× faster), so a larger policy keeps them.
 */
async function withParseTuning<T>(bytes: number, parse: () => T): Promise<T> {
  const { setFlagsFromString } = await import("node:v8");
  const tiers = bytes <= ONE_SHOT_BYTES ? optimisingTiers(process.versions.v8, [...process.execArgv, ...(process.env.NODE_OPTIONS ?? "").split(/\s+/)]) : [];
  setFlagsFromString("--semi-space-growth-factor=1");
  for (const tier of tiers) setFlagsFromString(`--no-${tier}`);
  try {
    return parse();
  } finally {
    setFlagsFromString("--semi-space-growth-factor=2");
    for (const tier of tiers) setFlagsFromString(`--${tier}`);
  }
}

/** Policies up to this many bytes are parsed without the optimising compilers (withParseTuning). */
export const ONE_SHOT_BYTES = 256 * 1024;

/**
 * The optimising compilers that are on in this process, so that turning them off for a parse and back on
 * after it restores exactly what was there: TurboFan, and Maglev from V8 12 (Node 22; on Node 20's V8 11.3
 * it is off unless asked for), each unless the node command line turned it off (NODE_OPTIONS may not
 * carry these flags). The last `--[no-]NAME` on the command line wins, as it does for V8. Under
 * `--jitless` (command line or NODE_OPTIONS) there is no optimising compiler to turn off, and turning one
 * on afterwards would contradict it: none is touched.
 */
export function optimisingTiers(v8Version: string, nodeArgs: readonly string[]): string[] {
  if (nodeArgs.some((a) => a.replace(/_/g, "-") === "--jitless")) return [];
  const major = Number.parseInt(v8Version, 10);
  const on: Record<string, boolean> = { turbofan: true, maglev: Number.isFinite(major) && major >= 12 };
  for (const arg of nodeArgs) {
    const m = /^--(no-)?(turbofan|maglev)$/.exec(arg.replace(/_/g, "-"));
    if (m) on[m[2]!] = m[1] === undefined;
  }
  return Object.keys(on).filter((tier) => on[tier]);
}

function refusal(dir: string, diagnostics: Diagnostic[]): PolicyError {
  const n = diagnostics.length;
  return new PolicyError(`the policy in ${dir} is invalid (${n} problem${n === 1 ? "" : "s"}); nothing runs until it is fixed`, diagnostics, "fix each problem at the file:line:col shown, then run `guard policy lint`");
}

/** The directory's real path, after checking it exists, is a directory and is trusted. */
function openDirectory(abs: string): string {
  let real: string;
  try {
    real = realpathSync(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") throw new PolicyError(`no policy directory at ${abs}`, [], SETTING_HINT);
    throw new GuardError(ExitCode.CONFIG, `cannot open the policy directory ${abs}: ${code ?? String(e)}`, "check its permissions");
  }
  const st = statSync(real);
  if (!st.isDirectory()) throw new PolicyError(`${abs} is not a directory`, [], `the policy is a directory of YAML files; ${SETTING_HINT}`);
  assertTrusted(st, abs === real ? abs : `${abs} (${real})`, "the policy directory");
  assertAncestorsSafe(real);
  return real;
}

/**
 * A world-writable directory above the policy lets anyone rename the policy directory away and put their
 * own in its place, unless the sticky bit is set (as on /tmp), which reserves renames to the owner.
 */
function assertAncestorsSafe(real: string): void {
  for (let d = dirname(real); ; d = dirname(d)) {
    const st = statSync(d);
    // 0o1000 is the sticky bit.
    if (st.mode & 0o002 && !(st.mode & 0o1000)) {
      throw new GuardError(
        ExitCode.CONFIG,
        `the policy directory ${real} is refused: its parent directory ${d} is world-writable without the sticky bit`,
        `anyone could replace the policy; move it, or run \`chmod o-w ${d}\``,
        [],
        "untrusted-file",
      );
    }
    if (dirname(d) === d) return;
  }
}

function readPolicyFiles(abs: string, realDir: string, problems: Diagnostic[], withTests: boolean, cwd: string | undefined): PolicyFile[] {
  const entries = readdirSync(realDir, { withFileTypes: true });
  const out: PolicyFile[] = [];
  const names = entries.map((e) => e.name).sort();
  const byName = new Map(entries.map((e) => [e.name, e]));
  for (const name of names) {
    if (name.startsWith(".")) continue;
    if (!withTests && isPolicyTestFile(name)) continue;
    const entry = byName.get(name)!;
    const shown = display(join(abs, name), cwd);
    const problem = (code: string, message: string, hint: string): void => {
      problems.push({ severity: "error", code, message, file: shown, line: 1, col: 1, hint });
    };
    let target = join(realDir, name);
    if (entry.isSymbolicLink()) {
      let resolved: string;
      try {
        resolved = realpathSync(target);
      } catch {
        if (isYamlName(name)) problem("broken-symlink", "a symlink that points nowhere", "remove it or fix its target");
        continue;
      }
      if (!isInside(realDir, resolved)) {
        if (isYamlName(name) || lstatSync(resolved).isDirectory()) {
          problem("symlink-escapes", `a symlink to ${resolved}, outside the policy directory`, "copy the file into the policy directory instead: a policy must not depend on files elsewhere");
        }
        continue;
      }
      target = resolved;
    }
    const st = statSync(target);
    if (st.isDirectory()) {
      problem("subdirectory", "a subdirectory in the policy directory; guard reads only the top level", "move its files up into the policy directory, or move the subdirectory out");
      continue;
    }
    if (!isYamlName(name)) {
      if (/\.ya?ml$/i.test(name)) problem("file-extension", `${name} is not read: only lowercase .yaml and .yml files are policy files`, "rename it to end in .yaml");
      continue;
    }
    if (!st.isFile()) {
      problem("not-a-file", "not a regular file", "replace it with a regular file");
      continue;
    }
    const bytes = readTrusted(target, shown, problems);
    if (bytes) out.push({ path: shown, bytes });
  }
  return out;
}

/** Read a file without following a symlink swapped in after the check, refusing untrusted ownership or modes. */
function readTrusted(path: string, shown: string, problems: Diagnostic[]): Uint8Array | null {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    problems.push({ severity: "error", code: "unreadable", message: `cannot read the file: ${code}`, file: shown, line: 1, col: 1, hint: "check its permissions" });
    return null;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      problems.push({ severity: "error", code: "not-a-file", message: "not a regular file", file: shown, line: 1, col: 1, hint: "replace it with a regular file" });
      return null;
    }
    try {
      assertTrusted(st, shown, "the policy file");
    } catch (e) {
      const err = e as GuardError;
      problems.push({ severity: "error", code: "untrusted-file", message: err.message, file: shown, line: 1, col: 1, ...(err.hint ? { hint: err.hint } : {}) });
      return null;
    }
    const size = Math.min(st.size, READ_LIMIT);
    const buf = Buffer.alloc(size);
    let filled = 0;
    while (filled < size) {
      const bytesRead = readSync(fd, buf, filled, size - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return buf.subarray(0, filled);
  } finally {
    closeSync(fd);
  }
}

function isYamlName(name: string): boolean {
  return name.endsWith(".yaml") || name.endsWith(".yml");
}

function isInside(dir: string, p: string): boolean {
  const rel = relative(dir, p);
  return rel !== "" && !rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel);
}

/** Relative to the working directory (the runtime's, when given) when inside it (short messages), else absolute. */
function display(p: string, cwd: string | undefined): string {
  if (cwd === undefined) return p;
  const rel = relative(cwd, p);
  return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel) ? rel : p;
}
