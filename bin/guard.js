#!/usr/bin/env node
// guard's entry point: turn on Node's compile cache where Node has one, then run dist/guard.cjs.
//
// module.enableCompileCache (Node ≥ 22.1) keeps the bytecode V8 compiled for guard's bundles on disk, so
// a later run neither parses nor compiles them again; Node checks each entry against the source it was
// made from. On Node 20 guard is a plain require. The cache lives in $XDG_CACHE_HOME/access-guard/compile
// (absolute XDG_CACHE_HOME only) or ~/.cache/access-guard/compile, not in Node's default under the shared
// /tmp, and is used only when that directory belongs to this user and nobody else can write it: bytecode
// there is code this user runs. NODE_COMPILE_CACHE=dir chooses another place; NODE_DISABLE_COMPILE_CACHE=1
// turns it off. A cache that cannot be used costs only speed.
"use strict";

const path = require("node:path");
const { enableCompileCache } = require("node:module");

const EX_SOFTWARE = 70;
const entry = path.join(__dirname, "..", "dist", "guard.cjs");

if (typeof enableCompileCache === "function" && !process.env.NODE_COMPILE_CACHE) {
  const dir = privateCacheDir();
  if (dir !== null) enableCompileCache(dir);
}

try {
  require(entry);
} catch (err) {
  if (!(err && err.code === "MODULE_NOT_FOUND" && String(err.message).includes(entry))) throw err;
  process.stderr.write(
    `guard: cannot load ${entry}\n` +
      "  guard is not built (or its files are damaged): nothing was run.\n" +
      "  In a checkout, run `npm run build`; an installed guard needs reinstalling.\n",
  );
  process.exit(EX_SOFTWARE);
}

/** The compile cache's directory, made if need be; null unless it is this user's alone. */
function privateCacheDir() {
  try {
    if (typeof process.getuid !== "function") return null;
    const fs = require("node:fs");
    const xdg = process.env.XDG_CACHE_HOME;
    const home = process.env.HOME;
    const base = xdg && path.isAbsolute(xdg) ? xdg : home && path.isAbsolute(home) ? path.join(home, ".cache") : null;
    if (base === null) return null;
    const dir = path.join(base, "access-guard", "compile");
    let st = fs.lstatSync(dir, { throwIfNoEntry: false });
    if (st === undefined) {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      st = fs.lstatSync(dir);
    }
    return st.isDirectory() && st.uid === process.getuid() && (st.mode & 0o022) === 0 ? dir : null;
  } catch {
    return null;
  }
}
