#!/usr/bin/env node
// guard's entry point. CommonJS (bin/package.json says so), because on Node 20 a CommonJS entry starts
// several milliseconds sooner than an ES module, and guard's cost is its start-up.
//
// It runs dist/guard.cjs as a V8 script with a code cache: the bytecode V8 compiled for guard on an
// earlier run, so that this run neither parses the bundle nor compiles the functions that run. Node 20
// has no compile cache of its own (module.enableCompileCache came in Node 22).
//
// The cache can only make guard start faster, never behave differently:
//   - it is keyed by the identity of the bundle file (device, inode, size, modification and change
//     times to the nanosecond; the change time cannot be set back by anyone), the Node version and
//     options, and the command, so a rebuilt or edited bundle never meets bytecode made from another
//     text; V8 itself also refuses data made for a source of another length, or by another V8 version
//     or flag set, and guard then compiles from source as if there were no cache;
//   - it lives in $XDG_CACHE_HOME/access-guard/code (absolute XDG_CACHE_HOME only) or
//     ~/.cache/access-guard/code, and is used only when that directory and the file belong to this user
//     and nobody else can write them; whoever can write there can already change what this user runs;
//   - any failure to read or write it is silent and costs only speed; GUARD_CODE_CACHE=off disables it.
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");

const EX_SOFTWARE = 70;
const dist = path.join(__dirname, "..", "dist");
const bundle = path.join(dist, "guard.cjs");
const command = process.argv[2];

/** dist/vendor/*.cjs already loaded, by path. */
const vendorExports = new Map();

/** A bundle file that cannot be read: guard is not built, or not whole. */
class NotLoadable extends Error {}

try {
  load(bundle, typeof command === "string" && /^[a-z][a-z-]{0,23}$/.test(command) ? command : "other");
} catch (err) {
  if (!(err instanceof NotLoadable)) throw err;
  process.stderr.write(
    `guard: ${err.message}\n` +
      "  guard is not built (or its files are damaged): nothing was run.\n" +
      "  In a checkout, run `npm run build`; an installed guard needs reinstalling.\n",
  );
  process.exit(EX_SOFTWARE);
}

/**
 * Run one of guard's bundles (dist/guard.cjs, or a dist/vendor/*.cjs it requires) as a V8 script with a
 * code cache, and return its exports. Each bundle is a single function expression, the wrapper Node
 * gives a CommonJS module (see scripts/build.mjs), compiled as it is: no concatenated copy for V8 to
 * flatten. What a bundle requires: Node's built-in modules, and its own files beside it (./vendor/*).
 */
function load(file, label) {
  let source;
  let identity;
  try {
    const fd = fs.openSync(file, "r");
    try {
      identity = fs.fstatSync(fd, { bigint: true });
      source = fs.readFileSync(fd, "utf8");
      // Changed while it was read (edited in place): run the text read, but without a cache.
      const after = fs.fstatSync(fd, { bigint: true });
      if (after.size !== identity.size || after.mtimeNs !== identity.mtimeNs || after.ctimeNs !== identity.ctimeNs) identity = null;
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    throw new NotLoadable(`cannot load ${file}: ${err && err.code ? err.code : String(err)}`);
  }
  const cache = codeCache(identity, `${path.basename(file, ".cjs")}-${label}`);
  const script = new vm.Script(source, { filename: file, cachedData: cache.data });
  if (cache.data === undefined || script.cachedDataRejected === true) process.once("exit", () => cache.save(script));
  const dir = path.dirname(file);
  const requireFromBundle = (id) => {
    if (!id.startsWith("./")) return require(id);
    const target = path.join(dir, id);
    if (!id.startsWith("./vendor/") || !id.endsWith(".cjs")) return require(target);
    // Once per process, as require() would: several of guard's modules share one yaml.
    let loaded = vendorExports.get(target);
    if (loaded === undefined) vendorExports.set(target, (loaded = load(target, "all")));
    return loaded;
  };
  const mod = { exports: {} };
  script.runInThisContext().call(mod.exports, mod.exports, requireFromBundle, mod, file, dir);
  return mod.exports;
}

/**
 * The code cache for a bundle file: its bytes when there is a usable one, and how to save a new one.
 * guard.cjs has one cache a command, because each holds the functions that its command ran. Nothing here
 * throws: every failure means "no cache".
 */
function codeCache(st, what) {
  const none = { data: undefined, save() {} };
  try {
    const setting = process.env.GUARD_CODE_CACHE;
    if (setting === "off" || setting === "0" || typeof process.getuid !== "function") return none;
    const uid = process.getuid();
    const dir = cacheDir();
    if (dir === null || st === null) return none;
    const name = [st.dev, st.ino, st.size, st.mtimeNs, st.ctimeNs, process.version, process.arch, flagsTag(), what].join("-");
    const file = path.join(dir, `${name}.v8`);
    // O_NOFOLLOW: a link planted in the cache directory is never read through.
    const O_NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;
    let data;
    let fd = -1;
    try {
      if (!ownedPrivately(fs.lstatSync(dir), uid)) return none;
      fd = fs.openSync(file, fs.constants.O_RDONLY | O_NOFOLLOW);
      const st = fs.fstatSync(fd);
      if (st.isFile() && ownedPrivately(st, uid) && st.size > 0 && st.size < 64 << 20) {
        data = Buffer.allocUnsafe(st.size);
        let off = 0;
        while (off < st.size) {
          const n = fs.readSync(fd, data, off, st.size - off, off);
          if (n === 0) break;
          off += n;
        }
        if (off !== st.size) data = undefined;
      }
    } catch {
      data = undefined;
    } finally {
      if (fd !== -1) fs.closeSync(fd);
    }
    return {
      data,
      save(s) {
        let tmp = null;
        try {
          fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
          if (!ownedPrivately(fs.lstatSync(dir), uid)) return;
          const bytes = s.createCachedData();
          tmp = path.join(dir, `.${name}.${process.pid}.tmp`);
          const out = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | O_NOFOLLOW, 0o600);
          try {
            fs.writeSync(out, bytes);
          } finally {
            fs.closeSync(out);
          }
          fs.renameSync(tmp, file);
          tmp = null;
          prune(dir, file);
        } catch {
          // A cache that cannot be written costs the next run some milliseconds, nothing else.
        } finally {
          if (tmp !== null) {
            try {
              fs.unlinkSync(tmp);
            } catch {
              // already gone
            }
          }
        }
      },
    };
  } catch {
    return none;
  }
}

/**
 * Node's own options (command line and NODE_OPTIONS) can change V8's flags, and V8 refuses a cache made
 * under other flags: one cache per set of options, so that runs with and without them do not keep
 * replacing each other's. A short FNV-1a digest: a name, not a safeguard (V8's check is that).
 */
function flagsTag() {
  const text = `${process.execArgv.join("\0")}\u0001${process.env.NODE_OPTIONS ?? ""}`;
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, "0");
}

function cacheDir() {
  const xdg = process.env.XDG_CACHE_HOME;
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, "access-guard", "code");
  const home = process.env.HOME || require("node:os").homedir();
  return home && path.isAbsolute(home) ? path.join(home, ".cache", "access-guard", "code") : null;
}

/** A directory or file of this user's that no one else can write. */
function ownedPrivately(st, uid) {
  return st.uid === uid && (st.mode & 0o022) === 0 && !st.isSymbolicLink();
}

/**
 * Caches of bundles that are gone (every build or upgrade makes new ones) would pile up: keep the 64
 * most recently used (a few hundred KB each: one a command and vendor file, for each set of Node
 * options), and only those used within a month. Runs only after a new cache was written, which is rare.
 */
function prune(dir, keep) {
  const MAX = 64;
  const MONTH_MS = 30 * 24 * 3600 * 1000;
  const now = Date.now();
  const entries = [];
  for (const name of fs.readdirSync(dir)) {
    if (!name.endsWith(".v8")) continue;
    const file = path.join(dir, name);
    if (file === keep) continue;
    try {
      const st = fs.lstatSync(file);
      if (st.isFile()) entries.push({ file, used: Math.max(st.atimeMs, st.mtimeMs) });
    } catch {
      // gone meanwhile
    }
  }
  entries.sort((a, b) => b.used - a.used);
  entries.forEach((e, i) => {
    if (i >= MAX - 1 || now - e.used > MONTH_MS) {
      try {
        fs.unlinkSync(e.file);
      } catch {
        // gone meanwhile, or not ours to remove
      }
    }
  });
}
