import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readKubeconfigs } from "../../src/adapters/kubeconfig.js";
import { detectTarget } from "../../src/core/detect.js";
import { effectiveKubeContext, kubeconfigPaths } from "../../src/core/kube.js";
import { fixturePolicy, input } from "./policy-fixture.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "guard-kube-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const kubeconfig = (ctx: string): string => `apiVersion: v1
kind: Config
clusters: []
contexts:
  - name: ${ctx}
    context: { cluster: c, user: u }
current-context: ${ctx}
users: []
`;

describe("readKubeconfigs (real files)", () => {
  it("E8: KUBECONFIG=staging.yaml:config where both set current-context: the first wins", async () => {
    const staging = join(dir, "staging.yaml");
    const home = join(dir, "home");
    await mkdir(join(home, ".kube"), { recursive: true });
    await writeFile(staging, kubeconfig("staging-eu"));
    await writeFile(join(home, ".kube", "config"), kubeconfig("prod-eu"));

    const { paths } = kubeconfigPaths([], { KUBECONFIG: `${staging}:${join(home, ".kube", "config")}` }, home);
    const files = await readKubeconfigs(paths);
    expect(files.map((f) => f.currentContext)).toEqual(["staging-eu", "prod-eu"]);
    expect(effectiveKubeContext([], files)).toEqual({ context: "staging-eu", source: staging });

    const d = detectTarget(fixturePolicy(), input({ kubeconfigs: files }));
    expect(d.environment).toBe("staging");
    expect(d.evidence[0]).toMatchObject({ source: "kube_context", subject: staging, value: "staging-eu", environment: "staging" });
  });

  it("E7: --kubeconfig reads only that file", async () => {
    const prod = join(dir, "prod.yaml");
    await writeFile(prod, kubeconfig("prod-eu"));
    await writeFile(join(dir, "staging.yaml"), kubeconfig("staging-eu"));
    const args = ["get", "pods", `--kubeconfig=${prod}`];
    const { paths } = kubeconfigPaths(args, { KUBECONFIG: join(dir, "staging.yaml") }, dir);
    const d = detectTarget(fixturePolicy(), input({ args, kubeconfigs: await readKubeconfigs(paths) }));
    expect(d.environment).toBe("production");
  });

  it("missing files are skipped, as kubectl skips them", async () => {
    const present = join(dir, "present.yaml");
    await writeFile(present, kubeconfig("kind-local"));
    const files = await readKubeconfigs([join(dir, "missing.yaml"), present]);
    expect(files).toEqual([{ path: present, currentContext: "kind-local" }]);
  });

  it("a file without current-context, an empty file and a null context carry no context", async () => {
    await writeFile(join(dir, "a"), "apiVersion: v1\nclusters: []\n");
    await writeFile(join(dir, "b"), "");
    await writeFile(join(dir, "c"), "current-context: null\n");
    await writeFile(join(dir, "d"), 'current-context: ""\n');
    const files = await readKubeconfigs(["a", "b", "c", "d"].map((n) => join(dir, n)));
    expect(files.map((f) => [f.currentContext, f.error])).toEqual([
      [undefined, undefined],
      [undefined, undefined],
      [undefined, undefined],
      [undefined, undefined],
    ]);
  });

  it.each([
    ["unparseable YAML", "current-context: [unclosed\n", /invalid YAML/],
    ["duplicate key", "current-context: a\ncurrent-context: b\n", /invalid YAML/],
    ["YAML 1.1 boolean, as kubectl reads it", "current-context: no\n", /boolean, not a string/],
    ["number", "current-context: 12\n", /number, not a string/],
    ["a list at top level", "- a\n- b\n", /not a mapping/],
    ["two documents", "current-context: a\n---\ncurrent-context: b\n", /more than one YAML document/],
  ])("%s is an error, so detection fails closed", async (_name, text, error) => {
    const path = join(dir, "bad.yaml");
    await writeFile(path, text);
    const [file] = await readKubeconfigs([path]);
    expect(file?.error).toMatch(error);
    const d = detectTarget(fixturePolicy(), input({ kubeconfigs: file ? [file] : [] }));
    expect(d.environment).toBeNull();
    expect(d.problems.join("\n")).toContain("cannot tell the Kubernetes context");
  });

  it("invalid UTF-8 is an error", async () => {
    const path = join(dir, "latin1.yaml");
    await writeFile(path, Buffer.from([0x63, 0x3a, 0x20, 0xff, 0x0a]));
    expect((await readKubeconfigs([path]))[0]?.error).toBe("not valid UTF-8");
  });

  it("a directory where a file should be is an error, not a skip", async () => {
    const path = join(dir, "adir");
    await mkdir(path);
    expect((await readKubeconfigs([path]))[0]?.error).toMatch(/not a regular file \(a directory\)/);
  });

  it("a file that never ends (/dev/zero) or a FIFO nobody writes (a process substitution's pipe) is an error at once, never a hang; /dev/null is empty, as kubectl reads it", async () => {
    const fifo = join(dir, "fifo");
    execFileSync("mkfifo", [fifo]);
    const files = await readKubeconfigs(["/dev/zero", fifo, "/dev/null"]);
    expect(files[0]).toEqual({ path: "/dev/zero", error: expect.stringMatching(/not a regular file \(a character device\)/) });
    expect(files[1]).toEqual({ path: fifo, error: expect.stringMatching(/not a regular file \(a FIFO or pipe\)/) });
    expect(files[2]).toEqual({ path: "/dev/null" });
  });

  it("a file over 16 MiB is an error, read no further than the bound", async () => {
    const path = join(dir, "huge.yaml");
    await writeFile(path, Buffer.alloc(16 * 1024 * 1024 + 1, 0x20));
    expect((await readKubeconfigs([path]))[0]?.error).toBe(`larger than ${16 * 1024 * 1024} bytes`);
  });

  it.skipIf(process.getuid?.() === 0)("an unreadable file is an error", async () => {
    const path = join(dir, "secret.yaml");
    await writeFile(path, kubeconfig("prod-eu"));
    await chmod(path, 0o000);
    expect((await readKubeconfigs([path]))[0]?.error).toMatch(/cannot read \(EACCES\)/);
  });
});

describe("readKubeconfigs with a cache directory (the policy cache's: the user's own, off when the policy is pinned)", () => {
  const contents: Array<[string, string]> = [
    ["a current context", kubeconfig("prod-eu")],
    ["no current context", "apiVersion: v1\nkind: Config\n"],
    ["an empty file", ""],
    ["current-context: no (a boolean in YAML 1.1)", "current-context: no\n"],
    ["not YAML", "current-context: [unclosed\n"],
  ];

  it.each(contents)("%s: the same answer from the cache as from the parser, the first time and after", async (_name, text) => {
    const path = join(dir, "config");
    const cache = join(dir, "cache");
    await writeFile(path, text);
    const parsed = await readKubeconfigs([path]);
    expect(await readKubeconfigs([path], cache)).toEqual(parsed);
    expect(await readdir(cache)).toHaveLength(1);
    expect(await readKubeconfigs([path], cache)).toEqual(parsed);
  });

  it("an entry is what decides, so only a private one is used: edited, it answers; shared, malformed or of other bytes, it is a miss", async () => {
    const path = join(dir, "config");
    const cache = join(dir, "cache");
    await writeFile(path, kubeconfig("prod-eu"));
    await readKubeconfigs([path], cache);
    const [name] = await readdir(cache);
    const entry = join(cache, name!);
    const original = await readFile(entry, "utf8");
    const withValue = (value: unknown): string => JSON.stringify({ ...(JSON.parse(original) as object), value });

    // The cache is read: an entry saying otherwise is believed (whoever can write it could edit KUBECONFIG too).
    await writeFile(entry, withValue({ currentContext: "kind-from-cache", error: null }));
    expect((await readKubeconfigs([path], cache))[0]?.currentContext).toBe("kind-from-cache");
    // Writable by others: a miss, and the file is parsed.
    await chmod(entry, 0o666);
    expect((await readKubeconfigs([path], cache))[0]?.currentContext).toBe("prod-eu");
    await chmod(entry, 0o600);
    // Values this build never writes: misses.
    for (const value of [{ currentContext: 5, error: null }, { currentContext: "a", error: "b" }, { currentContext: "a" }, { currentContext: "a", error: null, extra: 1 }, ["a"], "a"]) {
      await writeFile(entry, withValue(value));
      expect((await readKubeconfigs([path], cache))[0]?.currentContext, JSON.stringify(value)).toBe("prod-eu");
    }
    // Another byte in the kubeconfig: another key.
    await writeFile(entry, withValue({ currentContext: "kind-from-cache", error: null }));
    await writeFile(path, `${kubeconfig("prod-eu")}# edited\n`);
    expect((await readKubeconfigs([path], cache))[0]?.currentContext).toBe("prod-eu");
  });

  it("a cache directory others can write is neither read nor written", async () => {
    const path = join(dir, "config");
    const cache = join(dir, "shared-cache");
    await mkdir(cache, { mode: 0o777 });
    await chmod(cache, 0o777);
    await writeFile(path, kubeconfig("prod-eu"));
    expect((await readKubeconfigs([path], cache))[0]?.currentContext).toBe("prod-eu");
    expect(await readdir(cache)).toEqual([]);
  });
});
