import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { guard, makeWorld, requestIdIn, type World } from "./world.js";
import { guardIn } from "../helpers/in-process.js";
import { createTestDatabase } from "../helpers/pg.js";

/**
 * What `guard run` loads is what it costs to start (docs/benchmarks.md): an allowed run on an unchanged
 * policy must not load the YAML parser, zod (used only to print the JSON schema), the PostgreSQL
 * driver, the prompts, commander or node:fs/promises, nor any of guard's own code that only other
 * commands use (scripts/build.mjs: the entry dist/guard.cjs and one chunk of start-up code; everything
 * guard loads with import() is in other chunks). Checked on the built CLI by what Node reports having
 * loaded, not by timing; the first run, which parses the policy, shows that the check can see a load.
 */

let world: World;
const HOOK = join(import.meta.dirname, "load-report.cjs");

interface Loaded {
  builtins: string[];
  files: string[];
}

/** What `node [nodeArgs] bin/guard.js ARGS` loaded, by the hook's report; it must exit `code` (0: succeed). */
async function loadsOf(args: string[], env: Record<string, string> = {}, nodeArgs: string[] = [], code = 0): Promise<Loaded> {
  const report = join(world.dir, `load-${Math.random().toString(36).slice(2)}.json`);
  const r = await guard(world, args, { node: [...nodeArgs, "-r", HOOK], env: { ...env, GUARD_TEST_LOAD_REPORT: report } });
  expect(r.code, r.stderr).toBe(code);
  return JSON.parse(await readFile(report, "utf8")) as Loaded;
}

const vendor = (l: Loaded): string[] => l.files.filter((f) => /[\\/]dist[\\/]vendor[\\/]/.test(f)).map((f) => f.replace(/^.*[\\/]/, "")).sort();
/** guard's own chunks (dist/chunk-<hash>.cjs) that were loaded. */
const chunks = (l: Loaded): string[] => l.files.filter((f) => /[\\/]dist[\\/]chunk-[^\\/]+\.cjs$/.test(f)).map((f) => f.replace(/^.*[\\/]/, "")).sort();

beforeAll(async () => {
  world = await makeWorld();
});
afterAll(async () => {
  await world.cleanup();
});

describe("what an allowed guard run loads", () => {
  const RUN = ["run", "--", "maintenance/report-lb-state.sh"];

  let first: Loaded;
  let again: Loaded;

  it("parsing a policy it has not seen loads the YAML parser (and nothing else of the vendor bundles)", async () => {
    first = await loadsOf(RUN);
    expect(vendor(first)).toEqual(["yaml.cjs"]);
  });

  it("an unchanged policy: none of yaml, zod, pg, prompts, nor node:fs/promises", async () => {
    again = await loadsOf(RUN);
    expect(vendor(again)).toEqual([]);
    // node:fs/promises by name, or fs.promises (which loads Node's internal module of that name)
    expect(again.builtins).not.toContain("fs/promises");
    expect(again.builtins).not.toContain("internal/fs/promises");
    expect(again.builtins).not.toContain("perf_hooks");
    expect(again.builtins).not.toContain("worker_threads");
    // The entry point, the entry bundle and the one chunk of start-up code; the plain `guard run … --
    // CMD` is read without commander (run-args.ts).
    const shown = again.files.filter((f) => f !== HOOK).map((f) => f.replace(/^.*[\\/](bin|dist)[\\/]/, "$1/").replace(/chunk-[^/]+\.cjs$/, "chunk-*.cjs"));
    expect(shown).toEqual(["bin/guard.js", "dist/guard.cjs", "dist/chunk-*.cjs"]);
  });

  it("the policy parser is in chunks of its own, which an allowed run on a cached policy does not load", () => {
    expect(chunks(again)).toHaveLength(1);
    expect(chunks(first)).toEqual(expect.arrayContaining(chunks(again)));
    expect(chunks(first).length).toBeGreaterThan(chunks(again).length);
  });

  it("a plain guard check loads what an allowed run does, and no more: not node:child_process either, which only a command that starts a process needs", async () => {
    const check = await loadsOf(["check", "--json", "--", "maintenance/report-lb-state.sh"]);
    expect(vendor(check)).toEqual([]);
    expect(chunks(check)).toEqual(chunks(again));
    expect(again.builtins).toContain("child_process"); // the run starts its command
    expect(check.builtins).not.toContain("child_process");
  });

  it("`guard run --request ID` without `--` is read without commander too (a request nobody made: 64)", async () => {
    const approved = await loadsOf(["run", "--request", "r-abcdefghijklmnopqrst", "--confirm", "production"], {}, [], 64);
    expect(vendor(approved)).not.toContain("commander.cjs");
  });

  it("an approved run, and a replay of it (the race for one approval: its winner and its losers), read and write the store, the program and the key without node:fs/promises (each asynchronous call a trip through libuv's thread pool)", async () => {
    const prod = { DATABASE_URL: "postgres://app@prod-db.internal/elb" };
    const asked = await guardIn(world, ["request", "--reason", "loads", "--", "./maintenance/purge-lb-state.sh", "--ticket=loads"], { as: "alice", env: prod });
    const id = requestIdIn(asked.stderr);
    expect((await guardIn(world, ["approve", id, "--yes"], { as: "bob" })).code).toBe(0);
    const env = { ...prod, GUARD_KEY: world.people.alice!.key };
    await loadsOf(["check", "--", "maintenance/report-lb-state.sh"], env, [], 0); // (a spawned guard's first run writes its policy cache)
    const args = ["run", "--request", id, "--confirm", "production"];
    const [run, replay] = [await loadsOf(args, env, [], 0), await loadsOf(args, env, [], 77)];
    for (const [loaded, what] of [[run, "the run"], [replay, "the replay"]] as const) {
      expect(loaded.builtins, what).not.toContain("fs/promises");
      expect(loaded.builtins, what).not.toContain("internal/fs/promises");
    }
    expect(replay.builtins).not.toContain("child_process"); // a race's 49 losers start nothing
  });

  it("a kubectl run reads its kubeconfig each time, but parses it only when its bytes are new (the YAML parser is not loaded again)", async () => {
    const bin = join(world.dir, "kube-bin");
    await mkdir(bin, { recursive: true });
    await writeFile(join(bin, "kubectl"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    const kubeconfig = join(world.dir, "kubeconfig");
    await writeFile(kubeconfig, "apiVersion: v1\nkind: Config\ncurrent-context: kind-dev\n");
    const env = { GUARD_POLICY: join(import.meta.dirname, "..", "..", "examples", "kubectl", "policies"), PATH: `${bin}:${process.env.PATH ?? ""}`, KUBECONFIG: kubeconfig };
    const scale = ["check", "--", "kubectl", "scale", "deploy/web", "--replicas=3"];
    expect(vendor(await loadsOf(scale, env))).toEqual(["yaml.cjs"]); // the policy and the kubeconfig, parsed
    expect(vendor(await loadsOf(scale, env))).toEqual([]); // development: allowed (0)
    // Another context: new bytes, parsed once more, and the decision follows them (production: 75).
    await writeFile(kubeconfig, "apiVersion: v1\nkind: Config\ncurrent-context: prod-eu\n");
    expect(vendor(await loadsOf(scale, env, [], 75))).toEqual(["yaml.cjs"]);
    expect(vendor(await loadsOf(scale, env, [], 75))).toEqual([]);
    expect(vendor(await loadsOf(["run", "--", "kubectl", "get", "pods"], env))).toEqual([]);
  });

  it("any other command line goes through commander, whose command table is in other chunks", async () => {
    const withFlagsAfter = await loadsOf(["run", "maintenance/report-lb-state.sh"]);
    expect(vendor(withFlagsAfter)).toEqual(["commander.cjs"]);
    expect(chunks(withFlagsAfter)).toEqual(expect.arrayContaining(chunks(again)));
    expect(chunks(withFlagsAfter).length).toBeGreaterThan(chunks(again).length);
  });

  it("a PostgreSQL store loads the driver, and only it", async () => {
    const db = await createTestDatabase();
    try {
      const withPg = await loadsOf(RUN, { GUARD_STORE: db.url });
      expect(vendor(withPg)).toEqual(["pg.cjs"]);
    } finally {
      await db.drop();
    }
  });
});

describe("a cold policy parse under node's own compiler flags", () => {
  // The parse turns the optimising compilers off and back on (policy-files.ts withParseTuning); under a
  // node that has them off or has none, it must decide exactly as a plain node does.
  it.each([["--jitless"], ["--no-turbofan"], ["--no-maglev"], ["--maglev"]])("node %s: the same decision, from a policy it has not seen", async (flag) => {
    const args = ["check", "--json", "--", "maintenance/report-lb-state.sh"];
    const fresh = (): Record<string, string> => ({ XDG_CACHE_HOME: join(world.dir, `cache-${Math.random().toString(36).slice(2)}`) });
    const plain = await guard(world, args, { env: fresh() });
    const flagged = await guard(world, args, { env: fresh(), node: [flag] });
    expect(plain.code, plain.stderr).toBe(0);
    expect(flagged.code, flagged.stderr).toBe(0);
    // (node --jitless itself warns that it turns WebAssembly off: that line is node's, not guard's)
    expect(flagged.stderr.replace(/^Warning: disabling flag --expose_wasm .*\n/m, "")).toBe(plain.stderr);
    expect(JSON.parse(flagged.stdout)).toEqual(JSON.parse(plain.stdout));
  });
});

