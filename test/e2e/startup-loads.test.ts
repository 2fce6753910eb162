import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { guard, makeWorld, type World } from "./world.js";
import { createTestDatabase } from "../helpers/pg.js";

/**
 * What `guard run` loads is what it costs to start (PERFORMANCE.md): an allowed run on an unchanged
 * policy must not load the YAML parser, zod (used only to print the JSON schema), the PostgreSQL
 * driver, the prompts, commander, node:crypto or node:fs/promises. Checked on the built CLI by what Node
 * reports having loaded, not by timing; the first run, which parses the policy, shows that the check can
 * see a load.
 */

let world: World;
const HOOK = join(import.meta.dirname, "load-report.cjs");

interface Loaded {
  builtins: string[];
  files: string[];
  scripts: string[];
}

/** What `node [nodeArgs] bin/guard.js ARGS` loaded, by the hook's report; it must succeed. */
async function loadsOf(args: string[], env: Record<string, string> = {}, nodeArgs: string[] = []): Promise<Loaded> {
  const report = join(world.dir, `load-${Math.random().toString(36).slice(2)}.json`);
  const r = await guard(world, args, { node: [...nodeArgs, "-r", HOOK], env: { ...env, GUARD_TEST_LOAD_REPORT: report } });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(await readFile(report, "utf8")) as Loaded;
}

const vendor = (l: Loaded): string[] => l.scripts.filter((f) => /[\\/]dist[\\/]vendor[\\/]/.test(f)).map((f) => f.replace(/^.*[\\/]/, "")).sort();

beforeAll(async () => {
  world = await makeWorld();
});
afterAll(async () => {
  await world.cleanup();
});

describe("what an allowed guard run loads", () => {
  const RUN = ["run", "--", "maintenance/report-lb-state.sh"];

  it("parsing a policy it has not seen loads the YAML parser (and nothing else of the vendor bundles)", async () => {
    const first = await loadsOf(RUN);
    expect(vendor(first)).toEqual(["yaml.cjs"]);
  });

  it("an unchanged policy: none of yaml, zod, pg, prompts, nor node:fs/promises", async () => {
    const again = await loadsOf(RUN);
    expect(vendor(again)).toEqual([]);
    expect(again.builtins).not.toContain("fs/promises");
    // Hashed in WebAssembly, random bytes from /dev/urandom (core/sha256.ts, adapters/random.ts).
    expect(again.builtins).not.toContain("crypto");
    expect(again.builtins).not.toContain("perf_hooks");
    expect(again.builtins).not.toContain("worker_threads");
    // guard.cjs is compiled by bin/guard.js itself: the only module Node loads is the entry point; and
    // the plain `guard run … -- CMD` is read without commander (run-args.ts).
    expect(again.files.filter((f) => f !== HOOK).map((f) => f.replace(/^.*[\\/]bin[\\/]/, "bin/"))).toEqual(["bin/guard.js"]);
    expect(again.scripts.map((f) => f.replace(/^.*[\\/]dist[\\/]/, "dist/"))).toEqual(["dist/guard.cjs"]);
  });

  it("without WebAssembly (node --jitless), node:crypto hashes instead, and the log still verifies", async () => {
    // (Node itself warns on stderr that --jitless disables WebAssembly.)
    const jitless = await loadsOf(RUN, {}, ["--jitless"]);
    expect(jitless.builtins).toContain("crypto");
    const verify = await guard(world, ["audit", "verify"]);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });

  it("any other command line goes through commander", async () => {
    const withFlagsAfter = await loadsOf(["run", "maintenance/report-lb-state.sh"]);
    expect(vendor(withFlagsAfter)).toEqual(["commander.cjs"]);
  });

  it("a PostgreSQL store loads the driver, and only it", async () => {
    const db = await createTestDatabase();
    try {
      const withPg = await loadsOf(RUN, { GUARD_STORE: db.url });
      expect(vendor(withPg)).toEqual(["pg.cjs"]);
      // pg's check for Cloudflare Workers would load Node's fetch implementation (scripts/pg-navigator.js).
      expect(withPg.builtins.filter((b) => /undici|fetch/.test(b))).toEqual([]);
    } finally {
      await db.drop();
    }
  });
});
