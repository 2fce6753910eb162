/**
 * Node's compile cache under ~/.cache/access-guard/compile (bin/guard.js, Node ≥ 22.1) is retired with
 * the policy cache beside it (policy-cache.ts retireCompiled): Node writes an entry for each of guard's
 * files it compiles and never removes one, and every build's files have new names. The built CLI, as a
 * user runs it; only where the running Node has a compile cache to inspect (module.getCompileCacheDir,
 * Node ≥ 22.8: the Node 24 pass of CI), since Node 20 has none.
 */
import * as nodeModule from "node:module";
import { appendFile, mkdir, readdir, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { guard, makeWorld, type World } from "./world.js";

const hasCompileCache = typeof (nodeModule as { getCompileCacheDir?: unknown }).getCompileCacheDir === "function";
const DAY = 86_400_000;

let w: World;
beforeAll(async () => {
  w = await makeWorld();
});
afterAll(async () => w?.cleanup());

describe.runIf(hasCompileCache)("the compile cache is retired", () => {
  it("after a policy cache write: the running Node's newest 200 entries stay (guard's own among them), a Node unused for 30 days goes", async () => {
    const compile = join(w.home, ".cache", "access-guard", "compile");
    const check = async (): Promise<void> => {
      const r = await guard(w, ["check", "--json", "--", "/bin/true"]);
      expect(r.code, r.stderr).toBe(0);
    };
    await check();
    const versions = await readdir(compile);
    expect(versions).toHaveLength(1);
    const current = join(compile, versions[0]!);
    const own = (await readdir(current)).sort();
    expect(own.length).toBeGreaterThan(0);
    // Earlier builds' entries (older than guard's own), and a Node version upgraded away 40 days ago.
    const now = Date.now();
    const planted: string[] = [];
    for (let n = 0; planted.length < 205; n++) {
      const name = (0x10000000 + n).toString(16);
      if (own.includes(name)) continue;
      planted.push(name);
      await writeFile(join(current, name), "old bytecode");
      await utimes(join(current, name), (now - 10 * DAY - n * 1000) / 1000, (now - 10 * DAY - n * 1000) / 1000);
    }
    const gone = join(compile, "v22.1.0-x64-0a1b2c3d-0");
    await mkdir(gone);
    await writeFile(join(gone, "0badc0de"), "old bytecode");
    await utimes(join(gone, "0badc0de"), (now - 40 * DAY) / 1000, (now - 40 * DAY) / 1000);
    // A hit writes nothing, so retires nothing: the planted entries are all still there.
    await check();
    expect((await readdir(current)).length).toBe(own.length + planted.length);
    // An edited policy is a miss: its entry is written, and the caches are retired.
    await appendFile(join(w.dir, "policies", "guard.yaml"), "# edited\n");
    await check();
    const after = await readdir(current);
    expect(after.length).toBe(200);
    for (const name of own) expect(after).toContain(name);
    expect(after).toContain(planted[0]); // the newest planted stay, the oldest went
    expect(after).not.toContain(planted.at(-1));
    expect(await readdir(compile)).toEqual(versions);
    await check(); // and guard still starts from what is left
  });
});
