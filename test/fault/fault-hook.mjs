/**
 * Fault injection into the real, built CLI: `node --import test/fault/fault-hook.mjs bin/guard.js …`.
 *
 * Every effectful file-system call guard makes (create, write, chmod, truncate, fsync, link, unlink,
 * mkdir, rename) and every process spawn is one numbered step. GUARD_TEST_FAULT (JSON) says what to do:
 *
 *   {"trace": "/path"}                         append "<n>\t<op>\t<path>" for every step to that file
 *   {"at": 7, "action": "kill"}                SIGKILL guard itself just before step 7 happens
 *   {"at": 7, "action": "ENOSPC"}              step 7 fails as the system would (also EIO, EROFS, EAGAIN)
 *
 * The faults are real in their effect: a SIGKILL is a real SIGKILL, and a failed step never reaches the
 * disk. The variable is removed from the environment before guard reads it, so neither guard nor the
 * command it runs sees it, and it can never be part of what an approval binds.
 */
import fs from "node:fs";
import childProcess from "node:child_process";
import { syncBuiltinESMExports } from "node:module";

const raw = process.env.GUARD_TEST_FAULT;
delete process.env.GUARD_TEST_FAULT;

if (raw) {
  const spec = JSON.parse(raw);
  const fsp = fs.promises;
  let n = 0;

  // The trace itself is written with fs calls that are hooked too: never count (or recurse into) those.
  let tracing = false;
  const step = (op, target) => {
    if (tracing) return;
    n += 1;
    const where = String(target);
    if (spec.trace) {
      tracing = true;
      try {
        fs.appendFileSync(spec.trace, `${n}\t${op}\t${where}\n`);
      } finally {
        tracing = false;
      }
    }
    if (n !== spec.at) return;
    if (spec.action === "kill") process.kill(process.pid, "SIGKILL");
    const err = new Error(`${spec.action}: injected fault, ${op} '${where}'`);
    err.code = spec.action;
    err.syscall = op;
    err.path = where;
    throw err;
  };

  const probe = await fsp.open(process.execPath, "r");
  const FileHandle = Object.getPrototypeOf(probe);
  await probe.close();
  const handlePaths = new WeakMap();

  const WRITE_FLAGS = fs.constants.O_WRONLY | fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC;
  const writes = (flags) => (typeof flags === "number" ? (flags & WRITE_FLAGS) !== 0 : /[wa+]/.test(String(flags ?? "r")));

  const open = fsp.open;
  fsp.open = async function (path, flags, mode) {
    if (writes(flags)) step("open", path);
    const fh = await open.call(this, path, flags, mode);
    handlePaths.set(fh, String(path));
    return fh;
  };
  for (const name of ["write", "writeFile", "appendFile", "chmod", "truncate", "sync", "datasync"]) {
    const original = FileHandle[name];
    FileHandle[name] = async function (...args) {
      step(name, handlePaths.get(this) ?? "(unknown file)");
      return original.apply(this, args);
    };
  }
  for (const name of ["writeFile", "appendFile", "chmod", "link", "unlink", "mkdir", "rename", "rm", "rmdir", "symlink", "truncate"]) {
    const original = fsp[name];
    fsp[name] = async function (...args) {
      step(name, args[0]);
      return original.apply(this, args);
    };
  }
  // The synchronous calls guard uses (inside its audit-log lock, and for the store's small files).
  const fdPaths = new Map();
  const openSync = fs.openSync;
  fs.openSync = function (path, flags, mode) {
    if (writes(flags)) step("open", path);
    const fd = openSync.call(this, path, flags, mode);
    fdPaths.set(fd, String(path));
    return fd;
  };
  const closeSync = fs.closeSync;
  fs.closeSync = function (fd) {
    fdPaths.delete(fd);
    return closeSync.call(this, fd);
  };
  for (const [name, op] of [["writeSync", "write"], ["fsyncSync", "sync"], ["fdatasyncSync", "sync"], ["ftruncateSync", "truncate"], ["fchmodSync", "chmod"]]) {
    const original = fs[name];
    fs[name] = function (fd, ...rest) {
      step(op, fdPaths.get(fd) ?? "(unknown file)");
      return original.call(this, fd, ...rest);
    };
  }
  for (const [name, op] of [["linkSync", "link"], ["unlinkSync", "unlink"], ["renameSync", "rename"], ["mkdirSync", "mkdir"], ["chmodSync", "chmod"], ["writeFileSync", "writeFile"]]) {
    const original = fs[name];
    fs[name] = function (...args) {
      step(op, args[0]);
      return original.apply(this, args);
    };
  }
  const spawn = childProcess.spawn;
  childProcess.spawn = function (file, ...rest) {
    step("spawn", file);
    return spawn.call(this, file, ...rest);
  };
  syncBuiltinESMExports();
}
