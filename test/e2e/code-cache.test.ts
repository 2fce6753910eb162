import { chmod, cp, lstat, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, ROOT, guard, makeWorld, type GuardResult, type World } from "./world.js";

/**
 * bin/guard.js runs dist/guard.cjs with a V8 code cache kept per user. The cache may only ever make guard
 * start faster: a damaged, foreign or planted cache is never used, an edited bundle never meets bytecode
 * made from other text, and no failure around the cache changes what guard does.
 */

let world: World;
const cacheDir = (w: World): string => join(w.home, ".cache", "access-guard", "code");
const REPORT = ["check", "--json", "--", "maintenance/report-lb-state.sh"];

/** Cache files whose name ends with `suffix`: "-guard-<command>.v8" for guard.cjs, "-<name>-all.v8" for a vendor bundle. */
async function cacheFiles(w: World, suffix = ".v8"): Promise<string[]> {
  return (await readdir(cacheDir(w)).catch(() => [] as string[])).filter((n) => n.endsWith(suffix)).sort();
}

beforeAll(async () => {
  world = await makeWorld();
});
afterAll(async () => {
  await world.cleanup();
});

describe("the code cache", () => {
  it("is written once per command, private to the user, and then reused as it is", async () => {
    expect(await cacheFiles(world)).toEqual([]);
    const first = await guard(world, REPORT);
    expect(first.code, first.stderr).toBe(0);
    // guard.cjs for `check`; commander, which read its command line; the YAML parser, which read the
    // policy the first time.
    expect((await cacheFiles(world)).map((n) => n.replace(/^.*-(\w+-\w+\.v8)$/, "$1")).sort()).toEqual(["commander-all.v8", "guard-check.v8", "yaml-all.v8"]);
    const files = await cacheFiles(world, "-guard-check.v8");
    expect(files).toHaveLength(1);
    expect((await stat(cacheDir(world))).mode & 0o777).toBe(0o700);
    const path = join(cacheDir(world), files[0]!);
    const before = await stat(path);
    expect(before.mode & 0o777).toBe(0o600);
    expect(before.size).toBeGreaterThan(0);

    const second = await guard(world, REPORT);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toBe(first.stdout);
    const after = await stat(path);
    // Used, not rewritten: a rejected or unusable cache would have been replaced (new inode).
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);

    const run = await guard(world, ["run", "--", "maintenance/report-lb-state.sh", "x"]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe("report x\n");
    expect((await cacheFiles(world, ".v8")).map((n) => n.replace(/^.*-(\w+-\w+\.v8)$/, "$1")).sort()).toEqual(["commander-all.v8", "guard-check.v8", "guard-run.v8", "yaml-all.v8"]);
  });

  it("is kept apart for each set of Node options, so that runs with and without them do not replace each other's", async () => {
    const plain = await cacheFiles(world, "-guard-check.v8");
    expect(plain).toHaveLength(1);
    const before = await stat(join(cacheDir(world), plain[0]!));
    const opts = { env: { NODE_OPTIONS: "--max-old-space-size=300" } };
    expect((await guard(world, REPORT, opts)).code).toBe(0);
    expect((await guard(world, REPORT, opts)).code).toBe(0);
    expect(await cacheFiles(world, "-guard-check.v8")).toHaveLength(2);
    expect((await guard(world, REPORT)).code).toBe(0);
    const after = await stat(join(cacheDir(world), plain[0]!));
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
  });

  it("that is damaged is compiled around and replaced", async () => {
    const names = await cacheFiles(world, "-guard-check.v8");
    const garbage = Buffer.alloc(4096, 0x5a);
    for (const n of names) await writeFile(join(cacheDir(world), n), garbage, { mode: 0o600 });
    const r = await guard(world, REPORT);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).decision).toBe("allow");
    // The one this run used (no Node options) was replaced; the other is left for runs with options.
    const replaced = [];
    for (const n of names) if (!(await readFile(join(cacheDir(world), n))).equals(garbage)) replaced.push(n);
    expect(replaced).toHaveLength(1);
  });

  it("in a directory others can write is neither read nor written", async () => {
    const w = await makeWorld();
    try {
      expect((await guard(w, REPORT)).code).toBe(0);
      const [name] = await cacheFiles(w, "-guard-check.v8");
      const path = join(cacheDir(w), name!);
      const garbage = Buffer.alloc(1024, 0x41);
      await writeFile(path, garbage);
      await chmod(cacheDir(w), 0o777);
      const r = await guard(w, REPORT);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).decision).toBe("allow");
      // Untouched: not replaced (which a rejected cache in a private directory would be).
      expect((await readFile(path)).equals(garbage)).toBe(true);
    } finally {
      await chmod(cacheDir(w), 0o700).catch(() => undefined);
      await w.cleanup();
    }
  });

  it("file that others can write, or a symlink planted in its place, is replaced by a private file", async () => {
    const w = await makeWorld();
    try {
      expect((await guard(w, REPORT)).code).toBe(0);
      const [name] = await cacheFiles(w, "-guard-check.v8");
      const path = join(cacheDir(w), name!);
      await chmod(path, 0o666);
      expect((await guard(w, REPORT)).code).toBe(0);
      expect((await stat(path)).mode & 0o777).toBe(0o600);

      const elsewhere = join(w.dir, "elsewhere.v8");
      await writeFile(elsewhere, "not bytecode\n");
      await rm(path);
      await symlink(elsewhere, path);
      const r = await guard(w, REPORT);
      expect(r.code, r.stderr).toBe(0);
      expect(await readFile(elsewhere, "utf8")).toBe("not bytecode\n");
      expect((await lstat(path)).isFile()).toBe(true);
    } finally {
      await w.cleanup();
    }
  });

  it("is not used or made with GUARD_CODE_CACHE=off, and a cache location that cannot be written costs nothing else", async () => {
    const w = await makeWorld();
    try {
      const off = await guard(w, REPORT, { env: { GUARD_CODE_CACHE: "off" } });
      expect(off.code, off.stderr).toBe(0);
      expect(await cacheFiles(w)).toEqual([]);

      const notADir = join(w.dir, "cache-is-a-file");
      await writeFile(notADir, "");
      const r = await guard(w, ["run", "--", "maintenance/report-lb-state.sh", "y"], { env: { XDG_CACHE_HOME: notADir } });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe("report y\n");
      expect(r.stderr).toBe("");
    } finally {
      await w.cleanup();
    }
  });
});

describe("the code cache directory", () => {
  it("keeps the 64 most recently used files, none unused for a month, whenever it writes a new one", async () => {
    const w = await makeWorld();
    try {
      const dir = cacheDir(w);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await chmod(dir, 0o700);
      const now = Date.now() / 1000;
      // 70 caches of bundles long gone: one two months old, the rest used in the last hours.
      for (let i = 0; i < 70; i++) {
        const f = join(dir, `0-${i}-1-1-1-v0-x64-00000000-guard-run.v8`);
        await writeFile(f, "old", { mode: 0o600 });
        const t = i === 0 ? now - 60 * 86400 : now - 3600 - i * 60;
        await utimes(f, t, t);
      }
      const r = await guard(w, REPORT);
      expect(r.code, r.stderr).toBe(0);
      const names = await cacheFiles(w);
      expect(names.length).toBeLessThanOrEqual(64);
      expect(names.some((n) => n.endsWith("-guard-check.v8") && !n.startsWith("0-"))).toBe(true);
      expect(names).not.toContain("0-0-1-1-1-v0-x64-00000000-guard-run.v8");
      // The most recently used of the old ones are the ones kept.
      expect(names).toContain("0-1-1-1-1-v0-x64-00000000-guard-run.v8");
      expect(names).not.toContain("0-69-1-1-1-v0-x64-00000000-guard-run.v8");
    } finally {
      await w.cleanup();
    }
  });
});

describe("bin/guard.js with a bundle of its own (a copy of bin/ and dist/)", () => {
  let install: string;
  const bin = (): string => join(install, "bin", "guard.js");

  const spawnGuard = (args: string[]): Promise<GuardResult> => guard(world, args, { bin: bin() });

  beforeAll(async () => {
    install = await mkdtemp(join(tmpdir(), "guard-install-"));
    await cp(join(ROOT, "bin"), join(install, "bin"), { recursive: true });
    await cp(join(ROOT, "dist"), join(install, "dist"), { recursive: true });
  });
  afterAll(async () => {
    await rm(install, { recursive: true, force: true });
  });

  it("runs the text of an edited bundle, never bytecode cached for the text before it", async () => {
    const version = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")).version as string;
    const first = await spawnGuard(["--version"]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout.trim()).toBe(version);
    const cached = await cacheFiles(world, "-guard-other.v8");
    expect(cached.length).toBeGreaterThan(0);

    // The same length, other text: V8 alone (which checks the length) could not tell the two apart.
    const other = version.replace(/\d$/, (d) => String((Number(d) + 1) % 10));
    const bundle = join(install, "dist", "guard.cjs");
    const text = await readFile(bundle, "latin1");
    const literal = JSON.stringify(version);
    expect(text.includes(literal)).toBe(true);
    await writeFile(bundle, text.replaceAll(literal, JSON.stringify(other)), "latin1");
    expect((await stat(bundle)).size).toBe(Buffer.byteLength(text, "latin1"));

    const second = await spawnGuard(["--version"]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout.trim()).toBe(other);
    expect((await cacheFiles(world, "-guard-other.v8")).length).toBe(cached.length + 1);
  });

  it("without its bundle, refuses with 70 and says how to build it", async () => {
    await rm(join(install, "dist", "guard.cjs"));
    const r = await spawnGuard(["run", "--", "maintenance/report-lb-state.sh"]);
    expect(r.code).toBe(70);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("guard.cjs");
    expect(r.stderr).toContain("nothing was run");
    expect(r.stderr).toContain("npm run build");
  });
});

describe("the entry point itself", () => {
  it("is CommonJS with no build step between it and dist/guard.cjs", async () => {
    expect(JSON.parse(await readFile(join(ROOT, "bin", "package.json"), "utf8"))).toEqual({ type: "commonjs" });
    expect(await readFile(BIN, "utf8")).toMatch(/^#!\/usr\/bin\/env node\n/);
  });
});
