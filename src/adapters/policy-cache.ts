/**
 * A cache of validated policies, so that `guard run` does not load the YAML parser and re-validate an
 * unchanged policy on every invocation (docs/benchmarks.md: about 1.7x the floor without it, 1.14x with).
 *
 * What is cached is the loader's *output* for exact input bytes: the key is a SHA-256 over the cache
 * format, this build of guard, the policy root, and every policy and test file's display path and
 * content hash. The files are always read and trust-checked (P10) first; only parsing and validation are
 * skipped. A changed byte, a new guard build or a different working directory is a different key.
 *
 * The cache is a convenience for guardrail mode only. Whoever can write the cache can choose the policy,
 * so it is never used when the system configuration pins the policy (resolveSettings then reports no
 * cache directory), and it is used only when the cache directory and entry are owned by the current
 * user and writable by nobody else. Any doubt (unreadable, malformed, wrong owner, another key) means a
 * miss: the policy is parsed again, never refused or trusted because of the cache.
 */
import { closeSync, constants, futimesSync, mkdirSync, openSync, readdirSync, renameSync, rmdirSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import * as nodeModule from "node:module";
import { fileURLToPath } from "node:url";
import { basename, dirname, isAbsolute, join } from "node:path";
import { digestOf, sha256Hex } from "../core/canonical.js";
import type { Diagnostic } from "../core/errors.js";
import type { PolicyFile, PolicyTestCase } from "../core/policy/types.js";
import type { Policy } from "../core/types.js";
import { lstatOrNull, openRegular, readOpened } from "./regular-file.js";

/** Bump when the cached shape changes. */
const CACHE_FORMAT = "access-guard-policy-cache/2";
const MAX_ENTRY_BYTES = 16 * 1024 * 1024;

export interface CachedPolicy {
  policy: Policy;
  warnings: Diagnostic[];
  tests: PolicyTestCase[];
}

/** ~/.cache/access-guard/policies, or under $XDG_CACHE_HOME when that is absolute. */
export function defaultPolicyCacheDir(env: Readonly<Record<string, string | undefined>>, home: string): string {
  const xdg = env.XDG_CACHE_HOME;
  return join(xdg && isAbsolute(xdg) ? xdg : join(home, ".cache"), "access-guard", "policies");
}

let buildId: string | undefined;

/**
 * Identifies this build of guard: size, mtime and inode of the file this code is in (the start-up chunk
 * dist/chunk-<hash>.cjs; every build writes every file of dist/ anew, and an install unpacks them all), so
 * a new guard never reuses a verdict made by an old validator. The bundle gives its module wrapper's
 * `__filename`, which costs nothing; `import.meta.url` (a URL to parse) is for the TypeScript sources.
 */
export function currentBuild(): string {
  if (buildId === undefined) {
    try {
      const st = statSync(typeof __filename === "string" ? __filename : fileURLToPath(import.meta.url));
      buildId = `${st.size}:${st.mtimeMs}:${st.ino}`;
    } catch {
      buildId = "unknown";
    }
  }
  return buildId;
}

/** SHA-256 of a file's bytes, once per loaded file: the key and the digest check both need it. */
const fileDigests = new WeakMap<Uint8Array, string>();
function fileDigest(f: PolicyFile): string {
  let d = fileDigests.get(f.bytes);
  if (d === undefined) fileDigests.set(f.bytes, (d = sha256Hex(f.bytes)));
  return d;
}

export async function policyCacheKey(root: string, files: readonly PolicyFile[]): Promise<string> {
  const list = files.map((f) => [f.path, fileDigest(f)]).sort((a, b) => (a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : 0));
  return digestOf({ format: CACHE_FORMAT, build: currentBuild(), root, files: list });
}

export async function readCachedPolicy(cacheDir: string, key: string): Promise<CachedPolicy | null> {
  try {
    const value = readEntry(cacheDir, key, CACHE_FORMAT) as CachedPolicy | null;
    if (!value) return null;
    const { policy, warnings, tests } = value;
    if (policy?.version !== 1 || !Array.isArray(warnings) || !Array.isArray(tests)) return null;
    // The loader builds these maps without a prototype, so that a name such as `constructor` typed by a
    // user never finds Object.prototype members; JSON.parse does not, so rebuild them.
    policy.environments = Object.assign(Object.create(null), policy.environments);
    policy.principals = Object.assign(Object.create(null), policy.principals);
    // The digest (core/policy/digest.ts) is the one computed when these exact bytes were parsed: the key
    // covers every file's content, so an edit is a different entry, never this one with a stale digest.
    // It is not recomputed here (canonical JSON of the whole model: most of a hit's cost at 1,000 rules);
    // whoever could write a model that disagrees with its digest could write any model (see above).
    if (typeof policy.digest !== "string" || !/^[0-9a-f]{64}$/.test(policy.digest)) return null;
    return { policy, warnings, tests };
  } catch {
    return null;
  }
}

/** Best effort: a cache that cannot be written only costs time. */
export async function writeCachedPolicy(cacheDir: string, key: string, value: CachedPolicy): Promise<void> {
  writeEntry(cacheDir, key, CACHE_FORMAT, value);
}

/**
 * The value of the entry `key` made in `format`, or null: a missing, unreadable, foreign or malformed
 * entry, or a directory or file that is not this user's alone, is a miss. Synchronous calls: a hit is on
 * the start-up path of every run.
 */
export function readEntry(cacheDir: string, key: string, format: string): unknown {
  try {
    if (!privateDir(cacheDir)) return null;
    const opened = openRegular(join(cacheDir, `${key}.json`), { noFollow: true }); // a FIFO there: a miss, not a wait
    if ("fail" in opened) return null;
    const { fd, st } = opened;
    let text: string;
    try {
      if (st.uid !== process.getuid?.() || st.mode & 0o022) return null;
      const bytes = readOpened(fd, st, MAX_ENTRY_BYTES);
      if ("fail" in bytes) return null;
      text = bytes.toString("utf8");
      // An entry in use stays young: its time is moved on at most once a day (retireEntries goes by it).
      const now = Date.now();
      if (now - st.mtimeMs > DAY_MS) {
        try {
          futimesSync(fd, now / 1000, now / 1000);
        } catch {
          // a hit all the same
        }
      }
    } finally {
      closeSync(fd);
    }
    const entry = JSON.parse(text) as { format?: unknown; key?: unknown; value?: unknown } | null;
    if (entry?.format !== format || entry.key !== key || !entry.value) return null;
    return entry.value;
  } catch {
    return null;
  }
}

/**
 * Write the entry `key` (a temporary file of this user's, 0600, renamed into place). Best effort, in
 * synchronous calls: a cache that cannot be written only costs time, and each asynchronous call would be
 * a trip through libuv's thread pool (and node:fs/promises to load) for a run that had to parse anyway.
 */
export function writeEntry(cacheDir: string, key: string, format: string, value: unknown): void {
  let temp: string | null = null;
  try {
    mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
    if (!privateDir(cacheDir)) return;
    temp = join(cacheDir, `.${key}.${process.pid}.${Date.now()}.tmp`);
    const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      writeFileSync(fd, JSON.stringify({ format, key, value }));
    } finally {
      closeSync(fd);
    }
    renameSync(temp, join(cacheDir, `${key}.json`));
    temp = null;
    retireEntries(cacheDir, Date.now());
    const compile = (nodeModule as { getCompileCacheDir?: () => string | undefined }).getCompileCacheDir?.(); // (Node ≥ 22.8; on when bin/guard.js or NODE_COMPILE_CACHE turned it on)
    if (compile !== undefined && dirname(compile) === join(dirname(cacheDir), "compile")) retireCompiled(dirname(compile), basename(compile), Date.now());
  } catch {
    // ignore: see above
  } finally {
    if (temp !== null) {
      try {
        unlinkSync(temp);
      } catch {
        // never made
      }
    }
  }
}

const DAY_MS = 86_400_000;
/** Entries not used for this long are removed (a policy edited away, an old build's, a kubeconfig long gone). */
export const ENTRY_RETAIN_MS = 30 * DAY_MS;
/** At most this many entries are kept, the most recently used. */
export const MAX_ENTRIES = 200;
const ENTRY_NAME = /^[0-9a-f]{64}\.json$/;
const TEMP_NAME = /^\.[0-9a-f]{64}\.\d+\.\d+\.tmp$/;

/**
 * Retire what the cache no longer needs, after a write (a miss, so never on a run that found its entry):
 * entries unused for ENTRY_RETAIN_MS (a hit moves an entry's time on once a day), then the least recently
 * used beyond MAX_ENTRIES, and temporary files of writers that died more than an hour ago. Only names
 * this cache writes are touched; best effort.
 */
export function retireEntries(cacheDir: string, now: number): void {
  const entries: Array<{ path: string; mtimeMs: number }> = [];
  for (const name of namesIn(cacheDir)) {
    const entry = ENTRY_NAME.test(name);
    if (!entry && !TEMP_NAME.test(name)) continue;
    const path = join(cacheDir, name);
    const st = lstatOrNull(path);
    if (!st?.isFile()) continue;
    if (entry && now - st.mtimeMs <= ENTRY_RETAIN_MS) entries.push({ path, mtimeMs: st.mtimeMs });
    else if (entry || now - st.mtimeMs > 3_600_000) remove(path);
  }
  if (entries.length <= MAX_ENTRIES) return;
  entries.sort((a, b) => b.mtimeMs - a.mtimeMs);
  for (const e of entries.slice(MAX_ENTRIES)) remove(e.path);
}

/** Of Node's compile cache (bin/guard.js), at most this many entries are kept for the running Node, the newest. */
export const MAX_COMPILED = 200;
/** A directory of Node's compile cache: one per Node version, architecture and V8 flags. */
const COMPILE_VERSION_DIR = /^v\d+\.\d+\.\d+-[A-Za-z0-9_.-]+$/;
/** An entry in one (a hash of the compiled file's path). */
const COMPILE_ENTRY = /^[0-9a-f]{8}$/;

/**
 * Retire what Node's compile cache under ~/.cache/access-guard/compile no longer needs, after a write to
 * this cache (so at least once per guard build: its policy cache key changes): Node writes an entry for
 * each of guard's files it compiles, named by the file's path, and a new build's files have new names,
 * but it never removes one. For the running Node (`current`, module.getCompileCacheDir's last part), the
 * newest MAX_COMPILED entries are kept (Node does not touch an entry it reads, so an entry's time is
 * when it was written: the oldest are earlier builds'); another Node's directory goes once nothing in it
 * was written for ENTRY_RETAIN_MS (a Node upgraded away). Only names Node writes, and only regular files
 * and the directories that held them; best effort. Removing an entry still in use costs one compile.
 */
export function retireCompiled(compileDir: string, current: string, now: number): void {
  for (const version of namesIn(compileDir)) {
    const dir = join(compileDir, version);
    if (!COMPILE_VERSION_DIR.test(version) || lstatOrNull(dir)?.isDirectory() !== true) continue;
    const entries: Array<{ path: string; mtimeMs: number }> = [];
    for (const name of namesIn(dir)) {
      const path = join(dir, name);
      const st = COMPILE_ENTRY.test(name) ? lstatOrNull(path) : null;
      if (st?.isFile()) entries.push({ path, mtimeMs: st.mtimeMs });
    }
    entries.sort((a, b) => b.mtimeMs - a.mtimeMs);
    if (version === current) {
      for (const e of entries.slice(MAX_COMPILED)) remove(e.path);
    } else if (entries.length === 0 || now - entries[0]!.mtimeMs > ENTRY_RETAIN_MS) {
      for (const e of entries) remove(e.path);
      try {
        rmdirSync(dir); // only when nothing else is in it
      } catch {
        // not empty, or gone
      }
    }
  }
}

/** The names in a directory; none when it cannot be read. */
function namesIn(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function remove(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // gone already
  }
}

/** The cache directory must be the user's own and closed to everyone else. */
function privateDir(dir: string): boolean {
  let st;
  try {
    st = statSync(dir);
  } catch {
    return false;
  }
  return st.isDirectory() && st.uid === process.getuid?.() && (st.mode & 0o077) === 0;
}
