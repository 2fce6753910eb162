import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ENTRY_RETAIN_MS, MAX_COMPILED, MAX_ENTRIES, readEntry, retireCompiled, retireEntries, writeEntry } from "../../src/adapters/policy-cache.js";

/**
 * The cache under ~/.cache/access-guard/policies (validated policies and kubeconfig contexts) retires
 * what it no longer needs (issue 18: nothing was ever retired): entries unused for 30 days, the least
 * recently used beyond MAX_ENTRIES, and temporary files of writers that died. A hit keeps its entry young.
 */

const DAY = 86_400_000;
let dir: string;
let cache: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "guard-cache-"));
  cache = join(dir, "policies");
  mkdirSync(cache, { mode: 0o700 });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const key = (n: number): string => n.toString(16).padStart(64, "0");
/** An entry `key(n)` last used `ageMs` before `now`. */
function entry(n: number, ageMs: number, now: number): string {
  const path = join(cache, `${key(n)}.json`);
  writeFileSync(path, JSON.stringify({ format: "f", key: key(n), value: { n } }), { mode: 0o600 });
  utimesSync(path, (now - ageMs) / 1000, (now - ageMs) / 1000);
  return path;
}
const names = (): string[] => readdirSync(cache).sort();

describe("retireEntries", () => {
  it("removes entries unused for longer than 30 days and dead writers' temporary files over an hour old; keeps the rest", () => {
    const now = Date.now();
    entry(1, ENTRY_RETAIN_MS + DAY, now);
    entry(2, ENTRY_RETAIN_MS - DAY, now);
    entry(3, 0, now);
    const oldTemp = join(cache, `.${key(4)}.123.456.tmp`);
    const newTemp = join(cache, `.${key(5)}.123.456.tmp`);
    writeFileSync(oldTemp, "{");
    writeFileSync(newTemp, "{");
    utimesSync(oldTemp, (now - 2 * 3_600_000) / 1000, (now - 2 * 3_600_000) / 1000);
    // Names this cache never writes are not its to remove, however old.
    const foreign = join(cache, "notes.txt");
    writeFileSync(foreign, "mine");
    utimesSync(foreign, 0, 0);
    mkdirSync(join(cache, `${key(6)}.json`)); // not a file
    symlinkSync("/etc/passwd", join(cache, `${key(7)}.json`));
    retireEntries(cache, now);
    expect(names()).toEqual([`.${key(5)}.123.456.tmp`, `${key(2)}.json`, `${key(3)}.json`, `${key(6)}.json`, `${key(7)}.json`, "notes.txt"].sort());
  });

  it(`keeps at most ${MAX_ENTRIES} entries, the most recently used`, () => {
    const now = Date.now();
    for (let n = 1; n <= MAX_ENTRIES + 5; n++) entry(n, n * 60_000, now); // entry 1 the most recent
    retireEntries(cache, now);
    expect(names()).toEqual(Array.from({ length: MAX_ENTRIES }, (_, i) => `${key(i + 1)}.json`).sort());
  });

  it("a write retires; a hit moves an old entry's time on (once a day), so an entry in use is never retired", () => {
    const now = Date.now();
    const used = entry(1, ENTRY_RETAIN_MS - DAY, now);
    const unused = entry(2, ENTRY_RETAIN_MS + DAY, now);
    expect(readEntry(cache, key(1), "f")).toEqual({ n: 1 });
    expect(now - statSync(used).mtimeMs).toBeLessThan(DAY);
    const fresh = entry(3, 0, now);
    const before = statSync(fresh).mtimeMs;
    expect(readEntry(cache, key(3), "f")).toEqual({ n: 3 });
    expect(statSync(fresh).mtimeMs).toBe(before); // less than a day old: not written to
    writeEntry(cache, key(9), "f", { n: 9 });
    expect(names()).toEqual([`${key(1)}.json`, `${key(3)}.json`, `${key(9)}.json`]);
    expect(readEntry(cache, key(9), "f")).toEqual({ n: 9 });
    expect(() => statSync(unused)).toThrow();
  });
});

describe("retireCompiled: Node's compile cache beside it (bin/guard.js)", () => {
  const CURRENT = "v24.22.3-x64-964aae3f-0";
  const hex8 = (n: number): string => n.toString(16).padStart(8, "0");
  /** A compile cache entry `name` in `version`, written `ageMs` before `now`. */
  function compiled(version: string, name: string, ageMs: number, now: number): string {
    const d = join(dir, "compile", version);
    mkdirSync(d, { recursive: true, mode: 0o700 });
    const path = join(d, name);
    writeFileSync(path, "bytecode", { mode: 0o600 });
    utimesSync(path, (now - ageMs) / 1000, (now - ageMs) / 1000);
    return path;
  }
  const inDir = (version: string): string[] => readdirSync(join(dir, "compile", version)).sort();

  it(`keeps the running Node's ${MAX_COMPILED} newest entries; another Node's directory goes once nothing in it was written for 30 days; nothing else is touched`, () => {
    const now = Date.now();
    for (let n = 1; n <= MAX_COMPILED + 3; n++) compiled(CURRENT, hex8(n), n * 60_000, now); // entry 1 the newest
    compiled(CURRENT, "notes.txt", ENTRY_RETAIN_MS * 3, now); // not a name Node writes
    mkdirSync(join(dir, "compile", CURRENT, hex8(0xfffff)), { recursive: true }); // not a file
    compiled("v22.1.0-x64-0a1b2c3d-0", hex8(1), ENTRY_RETAIN_MS + DAY, now);
    compiled("v22.1.0-x64-0a1b2c3d-0", hex8(2), ENTRY_RETAIN_MS + 2 * DAY, now); // a Node upgraded away
    compiled("v22.9.0-x64-0a1b2c3d-0", hex8(1), ENTRY_RETAIN_MS + DAY, now);
    compiled("v22.9.0-x64-0a1b2c3d-0", hex8(2), DAY, now); // another Node still in use
    compiled("v22.2.0-x64-0a1b2c3d-0", hex8(1), ENTRY_RETAIN_MS + DAY, now);
    compiled("v22.2.0-x64-0a1b2c3d-0", "mine", ENTRY_RETAIN_MS + DAY, now); // its entries go, the directory stays
    compiled("not-a-node", hex8(1), ENTRY_RETAIN_MS * 3, now);
    retireCompiled(join(dir, "compile"), CURRENT, now);
    expect(inDir(CURRENT)).toEqual([...Array.from({ length: MAX_COMPILED }, (_, i) => hex8(i + 1)), hex8(0xfffff), "notes.txt"].sort());
    expect(readdirSync(join(dir, "compile")).sort()).toEqual(["not-a-node", CURRENT, "v22.2.0-x64-0a1b2c3d-0", "v22.9.0-x64-0a1b2c3d-0"].sort());
    expect(inDir("v22.9.0-x64-0a1b2c3d-0")).toEqual([hex8(1), hex8(2)]);
    expect(inDir("v22.2.0-x64-0a1b2c3d-0")).toEqual(["mine"]);
    expect(inDir("not-a-node")).toEqual([hex8(1)]);
  });

  it("a missing directory, or one that is a file, is nothing to do", () => {
    expect(() => retireCompiled(join(dir, "nowhere"), CURRENT, Date.now())).not.toThrow();
    writeFileSync(join(dir, "compile-file"), "x");
    expect(() => retireCompiled(join(dir, "compile-file"), CURRENT, Date.now())).not.toThrow();
  });
});
