import { execFileSync } from "node:child_process";
import { appendFileSync, closeSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { fileKindOf, openRegular, readOpened, readRegular, type ReadFailure } from "../../src/adapters/regular-file.js";

/**
 * The one way guard opens a file whose path someone else controls (SECURITY S27): without blocking, judged
 * by the descriptor it opened, read no further than a bound. On real files: a FIFO nobody writes, a
 * directory, /dev/null and /dev/zero (which never ends) are refused at once, never waited on or read.
 * Every FIFO here is opened only through the code under test, which opens with O_NONBLOCK: a blocking
 * open would hang this worker for good, so the file also runs under a time limit of its own.
 */

const dir = mkdtempSync(join(tmpdir(), "guard-regular-file-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const at = (name: string): string => join(dir, name);

writeFileSync(at("small"), "host=db\n");
writeFileSync(at("empty"), "");
writeFileSync(at("exact"), Buffer.alloc(64, 0x41));
writeFileSync(at("over"), Buffer.alloc(65, 0x41));
symlinkSync(at("small"), at("link"));
symlinkSync(at("nowhere"), at("dangling"));
mkdirSync(at("dir"));
execFileSync("mkfifo", [at("fifo")]);

/** Descriptors this process has open (Linux), to show that no outcome leaves one open. */
const openFds = (): number | null => (existsSync("/proc/self/fd") ? readdirSync("/proc/self/fd").length : null);
let fdsBefore: number | null;
beforeEach(() => {
  fdsBefore = openFds();
});
afterEach(() => {
  expect(openFds()).toBe(fdsBefore);
});

const TIMEOUT = 5_000;

/** A failure as the table states it: its kind and what it says (the errno, the kind of file, the size). */
function shown(r: ReturnType<typeof readRegular>): unknown {
  if (!("fail" in r)) return { bytes: r.bytes.toString("latin1") };
  const f: ReadFailure = r;
  switch (f.fail) {
    case "missing":
    case "symlink":
      return { fail: f.fail, code: f.error.code };
    case "not-regular":
      return { fail: f.fail, kind: fileKindOf(f.st) };
    case "too-large":
      return { fail: f.fail, size: f.size };
    case "error":
      return { fail: f.fail, op: f.op, code: f.error.code };
  }
}

describe("readRegular", () => {
  it.each([
    ["a small file", at("small"), false, { bytes: "host=db\n" }],
    ["an empty file", at("empty"), false, { bytes: "" }],
    ["a file of exactly the bound", at("exact"), false, { bytes: "A".repeat(64) }],
    ["a file one byte over the bound", at("over"), false, { fail: "too-large", size: 65 }],
    ["a missing file", at("missing"), false, { fail: "missing", code: "ENOENT" }],
    ["a missing file, noFollow", at("missing"), true, { fail: "missing", code: "ENOENT" }],
    ["a symlink to a regular file, followed", at("link"), false, { bytes: "host=db\n" }],
    ["a symlink with noFollow", at("link"), true, { fail: "symlink", code: "ELOOP" }],
    ["a dangling symlink with noFollow", at("dangling"), true, { fail: "symlink", code: "ELOOP" }],
    ["a dangling symlink, followed: missing", at("dangling"), false, { fail: "missing", code: "ENOENT" }],
    ["a FIFO nobody writes", at("fifo"), false, { fail: "not-regular", kind: "a FIFO or pipe" }],
    ["a FIFO nobody writes, noFollow", at("fifo"), true, { fail: "not-regular", kind: "a FIFO or pipe" }],
    ["a directory", at("dir"), false, { fail: "not-regular", kind: "a directory" }],
    ["/dev/null", "/dev/null", false, { fail: "not-regular", kind: "a character device" }],
    ["/dev/zero, which never ends", "/dev/zero", true, { fail: "not-regular", kind: "a character device" }],
    ["a path through a file", join(at("small"), "x"), false, { fail: "error", op: "open", code: "ENOTDIR" }],
  ])("%s", (_name, path, noFollow, want) => {
    expect(shown(readRegular(path, { noFollow, max: 64 }))).toEqual(want);
  }, TIMEOUT);
});

describe("openRegular", () => {
  it("keeps a regular file open, with what fstat said of the descriptor it opened", () => {
    const r = openRegular(at("small"), { noFollow: true });
    if ("fail" in r) throw new Error(`not opened: ${r.fail}`);
    try {
      expect(r.st.isFile()).toBe(true);
      expect(r.st.size).toBe(8);
      expect(readOpened(r.fd, r.st, 64)).toEqual(Buffer.from("host=db\n"));
    } finally {
      closeSync(r.fd);
    }
  });

  it.each([
    ["a FIFO nobody writes", at("fifo")],
    ["a directory", at("dir")],
    ["/dev/zero", "/dev/zero"],
  ])("refuses %s at once, with its stat, and closes it", (_name, path) => {
    const r = openRegular(path);
    expect("fail" in r && r.fail).toBe("not-regular");
  }, TIMEOUT);
});

describe("readOpened: bounded while it reads, too", () => {
  const grown = at("grown");
  afterEach(() => rmSync(grown, { force: true }));

  /** Open `grown` (holding `size` bytes), let it grow by `more` before the read, then read with bound `max`. */
  function readAfterGrowth(size: number, more: number, max: number): unknown {
    writeFileSync(grown, Buffer.alloc(size, 0x41));
    const r = openRegular(grown);
    if ("fail" in r) throw new Error(`not opened: ${r.fail}`);
    try {
      appendFileSync(grown, Buffer.alloc(more, 0x42));
      const bytes = readOpened(r.fd, r.st, max);
      return "fail" in bytes ? bytes : bytes.toString("latin1");
    } finally {
      closeSync(r.fd);
    }
  }

  it("a file at the bound when opened that grows past it is too large (by the bytes read), not read on", () => {
    expect(readAfterGrowth(64, 1000, 64)).toEqual({ fail: "too-large", size: 65 });
  });

  it("a file under the bound that grows is read to one byte past its size when opened, no further", () => {
    expect(readAfterGrowth(10, 1000, 64)).toBe(`${"A".repeat(10)}B`);
  });

  it("a file larger than the bound when opened is refused by that size, before any read", () => {
    expect(readAfterGrowth(100, 0, 64)).toEqual({ fail: "too-large", size: 100 });
  });
});
