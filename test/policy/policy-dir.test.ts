import { chmod, chown, cp, mkdir, mkdtemp, open, readdir, readFile, rm, stat, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadPolicyDir } from "../../src/adapters/policy-files.js";
import { GuardError, PolicyError } from "../../src/core/errors.js";

const MINIMAL = `version: 1
environments:
  production:
    protected: true
    detect:
      - env: DATABASE_URL
        matches: "*prod-db*"
rules:
  - name: reports-are-fine
    match: { environments: [production], commands: ["report-*.sh"] }
    allow: true
`;

const MINIMAL_TEST = `tests:
  - name: a report in production is allowed
    run: ["report-x.sh"]
    env: { DATABASE_URL: "postgres://prod-db/x" }
    expect: { decision: allow, environment: production, rules: [reports-are-fine] }
`;

const isRoot = process.getuid?.() === 0;

let tmp: string;
let dir: string;

beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), "guard-policydir-"));
  dir = join(tmp, "policies");
  await mkdir(dir, { mode: 0o755 });
  await chmod(dir, 0o755);
  await write("guard.yaml", MINIMAL);
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function write(name: string, text: string | Uint8Array, mode = 0o644): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, text);
  await chmod(p, mode);
  return p;
}

async function refusal(p: Promise<unknown>): Promise<GuardError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof GuardError) return e;
    throw e;
  }
  throw new Error("expected a refusal, got success");
}

function codes(e: GuardError): string[] {
  return e instanceof PolicyError ? e.diagnostics.map((d) => d.code) : [];
}

describe("loadPolicyDir: reading", () => {
  it("loads a valid directory: policy, tests, files; root is the directory holding it", async () => {
    await write("guard.test.yaml", MINIMAL_TEST);
    await write("README.md", "not read");
    await write(".swap.yaml", "not: [valid");
    const r = await loadPolicyDir(dir, { tests: true });
    expect(Object.keys(r.policy.environments)).toEqual(["production"]);
    expect(r.policy.root).toBe(tmp);
    expect(r.tests.map((t) => t.name)).toEqual(["a report in production is allowed"]);
    expect(r.files.map((f) => f.split("/").pop())).toEqual(["guard.test.yaml", "guard.yaml"]);
    expect(r.warnings).toEqual([]);
  });

  it("policy tests are not policy: only `tests: true` (policy test, policy lint) reads them and fails on them", async () => {
    await write("guard.test.yaml", "tests:\n  - name: a typo\n    rnu: [x]\n");
    const r = await loadPolicyDir(dir);
    expect(r.tests).toEqual([]);
    expect(r.files.map((f) => f.split("/").pop())).toEqual(["guard.yaml"]);
    const e = await refusal(loadPolicyDir(dir, { tests: true }));
    expect(e.exitCode).toBe(78);
    expect((e as PolicyError).diagnostics.map((d) => `${d.file.split("/").pop()}:${d.code}`)).toContain("guard.test.yaml:unknown-field");
    // Not even read: a test file others can write does not block a run either.
    await chmod(join(dir, "guard.test.yaml"), 0o666);
    expect((await loadPolicyDir(dir)).tests).toEqual([]);
    expect((await refusal(loadPolicyDir(dir, { tests: true }))).exitCode).toBe(78);
  });

  it("the digest covers what decides, not tests, comments or where the directory lives", async () => {
    const a = (await loadPolicyDir(dir)).policy.digest;
    const elsewhere = join(tmp, "copy", "pol");
    await mkdir(join(tmp, "copy"));
    await cp(dir, elsewhere, { recursive: true });
    expect((await loadPolicyDir(elsewhere)).policy.digest).toBe(a);
    await write("guard.test.yaml", MINIMAL_TEST);
    expect((await loadPolicyDir(dir)).policy.digest).toBe(a);
    await write("guard.yaml", `${MINIMAL}# a comment changes the bytes, not what decides\n`);
    expect((await loadPolicyDir(dir)).policy.digest).toBe(a);
    await write("guard.yaml", MINIMAL.replace("report-*.sh", "report-*"));
    expect((await loadPolicyDir(dir)).policy.digest).not.toBe(a);
  });

  it("a missing directory is exit 78, naming where it looked and how to set it", async () => {
    const e = await refusal(loadPolicyDir(join(tmp, "nope")));
    expect(e.exitCode).toBe(78);
    expect(e.message).toContain(join(tmp, "nope"));
    expect(e.hint).toMatch(/--policy.*GUARD_POLICY.*policies:/);
  });

  it("a file instead of a directory, or a directory with no policy files, is exit 78", async () => {
    expect((await refusal(loadPolicyDir(join(dir, "guard.yaml")))).exitCode).toBe(78);
    const empty = join(tmp, "empty");
    await mkdir(empty);
    const e = await refusal(loadPolicyDir(empty));
    expect(e.exitCode).toBe(78);
    expect(e.message).toMatch(/no policy files/);
  });

  it("P11: a directory holding only tests is refused (an empty policy never means allow-all)", async () => {
    await rm(join(dir, "guard.yaml"));
    await write("only.test.yaml", MINIMAL_TEST);
    expect((await refusal(loadPolicyDir(dir))).exitCode).toBe(78);
    expect((await refusal(loadPolicyDir(dir, { tests: true }))).exitCode).toBe(78);
  });

  it("a subdirectory or an upper-case .YAML file is an error, not silently skipped", async () => {
    await mkdir(join(dir, "prod"));
    await write("extra.YAML", MINIMAL);
    const e = await refusal(loadPolicyDir(dir));
    expect(codes(e).sort()).toEqual(["file-extension", "subdirectory"]);
  });

  it("problems in several files are all reported, sorted by file", async () => {
    await write("a.yaml", "version: 1\nrules:\n  - name: x\n    match: { environments: [production] }\n    aprovals: 2\n");
    await write("b.yaml", "version: 1\nversion: 1\n");
    const e = await refusal(loadPolicyDir(dir));
    expect(e).toBeInstanceOf(PolicyError);
    const files = (e as PolicyError).diagnostics.map((d) => d.file.split("/").pop());
    expect(files).toContain("a.yaml");
    expect(files).toContain("b.yaml");
    expect(files).toEqual([...files].sort());
  });

  it("P8: a 100 MB file is refused as too large without reading it whole", async () => {
    const fh = await open(join(dir, "huge.yaml"), "w", 0o644);
    await fh.truncate(100 * 1024 * 1024);
    await fh.close();
    const started = performance.now();
    const e = await refusal(loadPolicyDir(dir));
    expect(codes(e)).toContain("too-large");
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});

describe("loadPolicyDir: P10 trust", () => {
  it("P10: a world-writable policy file is refused", async () => {
    await write("guard.yaml", MINIMAL, 0o666);
    const e = await refusal(loadPolicyDir(dir));
    expect(e.exitCode).toBe(78);
    expect(codes(e)).toEqual(["untrusted-file"]);
    expect((e as PolicyError).diagnostics[0]?.message).toMatch(/world-writable/);
  });

  it("P10: a world-writable policy directory is refused", async () => {
    await chmod(dir, 0o777);
    const e = await refusal(loadPolicyDir(dir));
    expect(e.exitCode).toBe(78);
    expect(e.message).toMatch(/world-writable/);
  });

  it("P10: a world-writable parent without the sticky bit is refused; with it (like /tmp) it is fine", async () => {
    await chmod(tmp, 0o777);
    const e = await refusal(loadPolicyDir(dir));
    expect(e.exitCode).toBe(78);
    expect(e.message).toMatch(/sticky/);
    await chmod(tmp, 0o1777);
    await expect(loadPolicyDir(dir)).resolves.toBeDefined();
    await chmod(tmp, 0o700);
  });

  it("P10: a symlink to a file outside the directory (e.g. into /tmp) is refused", async () => {
    const outside = join(tmp, "evil.yaml");
    await writeFile(outside, "version: 1\n");
    await symlink(outside, join(dir, "extra.yaml"));
    const e = await refusal(loadPolicyDir(dir));
    expect(codes(e)).toEqual(["symlink-escapes"]);
  });

  it("a symlink that stays inside the directory is followed", async () => {
    await rm(join(dir, "guard.yaml"));
    await write("real.yml", MINIMAL);
    await symlink(join(dir, "real.yml"), join(dir, "guard.yaml"));
    // Read twice (as itself and through the link), so every name is defined twice: proof the link was followed.
    const e = await refusal(loadPolicyDir(dir));
    expect(new Set(codes(e))).toEqual(new Set(["duplicate-definition"]));
  });

  it.skipIf(!isRoot)("P10: a policy file owned by another user is refused", async () => {
    await chown(join(dir, "guard.yaml"), 12345, 0);
    const e = await refusal(loadPolicyDir(dir));
    expect(codes(e)).toEqual(["untrusted-file"]);
    expect((e as PolicyError).diagnostics[0]?.message).toMatch(/owned by uid 12345/);
  });

  it.skipIf(!isRoot)("P10: a policy directory group-writable by a foreign group is refused", async () => {
    await chown(dir, 0, 12345);
    await chmod(dir, 0o775);
    const e = await refusal(loadPolicyDir(dir));
    expect(e.message).toMatch(/writable by group 12345/);
  });
});

describe("loadPolicyDir: the validated-policy cache", () => {
  async function entries(cacheDir: string): Promise<string[]> {
    return (await readdir(cacheDir)).filter((n) => n.endsWith(".json"));
  }

  it("a second load of unchanged bytes is served from the cache; any changed byte is a miss", async () => {
    const cacheDir = join(tmp, "cache");
    const first = await loadPolicyDir(dir, { cacheDir });
    const [entry] = await entries(cacheDir);
    expect(entry).toBeDefined();
    // Mark the cached entry: only a cache hit can return the marker.
    const path = join(cacheDir, entry!);
    const cached = JSON.parse(await readFile(path, "utf8"));
    cached.value.warnings = [{ severity: "warning", code: "from-cache", message: "m", file: "f", line: 1, col: 1 }];
    await writeFile(path, JSON.stringify(cached));
    const second = await loadPolicyDir(dir, { cacheDir });
    expect(second.warnings.map((w) => w.code)).toEqual(["from-cache"]);
    expect(second.policy).toEqual(first.policy);
    // Prototype-free maps survive the round trip: `constructor` must never resolve to a function.
    expect(second.policy.environments["constructor"]).toBeUndefined();

    // A changed byte is a miss, even when what decides (and so the digest) is the same.
    await write("guard.yaml", `${MINIMAL}\n`);
    const third = await loadPolicyDir(dir, { cacheDir });
    expect(third.warnings).toEqual([]);
    expect(third.policy.digest).toBe(first.policy.digest);
    expect(await entries(cacheDir)).toHaveLength(2);
    await write("guard.yaml", MINIMAL.replace("report-*.sh", "report-*"));
    expect((await loadPolicyDir(dir, { cacheDir })).policy.digest).not.toBe(first.policy.digest);
  });

  it("an edit is never served stale: same size, same mtime, one byte changed is a miss with the new digest", async () => {
    const cacheDir = join(tmp, "cache");
    const path = join(dir, "guard.yaml");
    const before = await stat(path);
    const first = await loadPolicyDir(dir, { cacheDir });
    expect((await loadPolicyDir(dir, { cacheDir })).policy).toEqual(first.policy);
    // One byte of what decides changes; the length and the modification time stay as they were.
    const edited = MINIMAL.replace('"report-*.sh"', '"rep0rt-*.sh"');
    expect(edited.length).toBe(MINIMAL.length);
    await writeFile(path, edited);
    await utimes(path, before.atime, before.mtime);
    expect((await stat(path)).mtime.getTime()).toBe(before.mtime.getTime());
    const second = await loadPolicyDir(dir, { cacheDir });
    const fresh = await loadPolicyDir(dir);
    expect(second.policy.rules[0]?.match.commands).toEqual(["rep0rt-*.sh"]);
    expect(second.policy.digest).toBe(fresh.policy.digest);
    expect(second.policy.digest).not.toBe(first.policy.digest);
    // And back: the first entry serves the first bytes again, with their digest.
    await writeFile(path, MINIMAL);
    expect((await loadPolicyDir(dir, { cacheDir })).policy.digest).toBe(first.policy.digest);
  });

  it("an entry is served only under its own key, with a well-formed digest, from a cache only its user can write", async () => {
    const cacheDir = join(tmp, "cache");
    await loadPolicyDir(dir, { cacheDir });
    const [entry] = await entries(cacheDir);
    const path = join(cacheDir, entry!);
    const cached = JSON.parse(await readFile(path, "utf8"));
    cached.value.warnings = [{ severity: "warning", code: "from-cache", message: "m", file: "f", line: 1, col: 1 }];
    // Another key inside the entry (an entry copied from another policy's file name): a miss.
    await writeFile(path, JSON.stringify({ ...cached, key: "0".repeat(64) }));
    expect((await loadPolicyDir(dir, { cacheDir })).warnings).toEqual([]);
    // A digest that is not a SHA-256: a miss.
    await writeFile(path, JSON.stringify({ ...cached, value: { ...cached.value, policy: { ...cached.value.policy, digest: "x" } } }));
    expect((await loadPolicyDir(dir, { cacheDir })).warnings).toEqual([]);

    await writeFile(path, JSON.stringify(cached));
    await chmod(cacheDir, 0o770);
    expect((await loadPolicyDir(dir, { cacheDir })).warnings).toEqual([]);
    await chmod(cacheDir, 0o700);
    expect((await loadPolicyDir(dir, { cacheDir })).warnings.map((w) => w.code)).toEqual(["from-cache"]);
  });

  it("trust checks run on every load, cached or not (P10)", async () => {
    const cacheDir = join(tmp, "cache");
    await loadPolicyDir(dir, { cacheDir });
    await chmod(join(dir, "guard.yaml"), 0o666);
    expect((await refusal(loadPolicyDir(dir, { cacheDir }))).exitCode).toBe(78);
  });

  it("an invalid policy is never cached", async () => {
    const cacheDir = join(tmp, "cache");
    await write("guard.yaml", "version: 2\n");
    await refusal(loadPolicyDir(dir, { cacheDir }));
    expect(await readdir(cacheDir).catch(() => [])).toEqual([]);
  });
});
