/**
 * `guard __complete` in process: the logic every shell's shim asks, run as entry.ts runs it
 * (completeCommand over the whole command table, buildProgram), and `guard … --help` parsed by the same
 * table, with a fixed clock, the memory store and no terminal. The listing every level of --help gives
 * is what completion offers (no drift), the answers for partial command lines, environment names from
 * the policy and request ids from the store.
 *
 * These were once spawned guards, three per level of the command table (test/ci/completion.test.ts),
 * which keeps the built CLI for the top level's listing, that __complete is hidden, the failures (an
 * unreadable store or policy, a silent server), and every shell's shim in the real shell.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildProgram } from "../../src/cli.js";
import { completeCommand } from "../../src/commands/completion.js";
import { requestCommand } from "../../src/commands/request.js";
import { MemoryPlace } from "../../src/adapters/store/memory.js";
import { exitCodeOf, type TestRuntime } from "../helpers/runtime.js";
import { makeProject, type Project } from "./project.js";
import { helpListing as helpListingOf } from "../helpers/help-listing.js";

const ENVIRONMENTS = ["dev", "development", "live", "prd", "prod", "production", "staging", "stg"];

let p: Project;
/** The store, holding one pending request of dave's. */
const place = new MemoryPlace();
let pendingId: string;

beforeAll(async () => {
  p = await makeProject();
  const rt = p.runtime({ as: "dave", env: { DATABASE_URL: "postgres://prod-db.internal/x" }, place });
  expect(await exitCodeOf(rt, () => requestCommand(["maintenance/purge-lb-state.sh"], { reason: "r" }, rt)), rt.stderr()).toBe(0);
  pendingId = rt.stdout().trim();
  expect(pendingId).toMatch(/^r-[a-z2-7]{20}$/);
}, 30_000);
afterAll(async () => p?.cleanup());

const runtime = (): TestRuntime => p.runtime({ as: "dave", place });

/** `guard __complete WORDS…`: the directive line, and the candidates without their descriptions. */
async function ask(words: string[]): Promise<{ directive: string; values: string[] }> {
  const rt = runtime();
  expect(await exitCodeOf(rt, () => completeCommand(words, buildProgram(rt), rt))).toBe(0);
  expect(rt.stderr()).toBe("");
  const [directive, ...lines] = rt.stdout().replace(/\n$/, "").split("\n");
  return { directive: directive!, values: lines.map((l) => l.split("\t")[0]!) };
}

/** `guard PATH --help`, parsed by the whole table as entry.ts does: what it prints. */
async function help(path: string[]): Promise<string> {
  const rt = runtime();
  await exitCodeOf(rt, async () => {
    try {
      await buildProgram(rt).parseAsync(["node", "guard", ...path, "--help"]);
    } catch (err) {
      // commander ends --help by throwing (exitOverride), with exit code 0.
      if ((err as { code?: string; exitCode?: number }).code !== "commander.helpDisplayed") throw err;
    }
  });
  expect(rt.stdout()).toContain("Usage: guard");
  return rt.stdout();
}

/** The options and subcommands `guard PATH --help` lists: what completion must offer. */
async function helpListing(path: string[]): Promise<{ options: string[]; commands: string[] }> {
  return helpListingOf(await help(path));
}

describe("guard __complete, in process", () => {
  it("every command and option that --help lists is offered, at every level (no drift)", async () => {
    let level: string[][] = [[]];
    let checked = 0;
    while (level.length) {
      const next: string[][] = [];
      for (const path of level) {
        const listing = await helpListing(path);
        const opts = await ask([...path, "-"]);
        const subs = await ask([...path, ""]);
        expect([path, opts.values.filter((o) => o !== "--").sort()]).toEqual([path, [...listing.options].sort()]);
        if (listing.commands.length) expect([path, [...subs.values].sort()]).toEqual([path, [...listing.commands].sort()]);
        for (const c of listing.commands) if (c !== "help") next.push([...path, c]);
        checked++;
      }
      level = next;
    }
    expect(checked).toBeGreaterThan(15);
  });

  it.each<[string[], string, string[]]>([
    [["ru"], ":none", ["run"]],
    [["run", "--e"], ":none", ["--env"]],
    [["policy", "l"], ":none", ["lint"]],
    [["help", "p"], ":none", ["policy"]],
    [["policy", "help", ""], ":none", ["lint", "test", "schema"]],
    [["completion", ""], ":none", ["bash", "zsh", "fish"]],
    [["run", "--policy", "pol"], ":dirs", []],
    [["run", "--key", ""], ":files", []],
    [["run", "--env", "production", "--", "maintenance/purge"], ":command 4", []],
    [["run", "--env=production", "ls", "-"], ":command 2", []],
    [["check", "maintenance/rep"], ":command 1", []],
    [["run", "--store", "file:/tmp/x", "--js"], ":none", ["--json"]],
    [["run", "--reason", "check", "--js"], ":none", ["--json"]],
    [["audit", "verify", "--anchor", "1:abc", "--js"], ":none", ["--json"]],
    [["run", "--wait", ""], ":none", []],
    [["approve", "--yes", "x"], ":none", []],
    [["whoami", "extra", ""], ":none", []],
  ])("%j → %s %j", async (words, directive, values) => {
    expect(await ask(words)).toEqual({ directive, values });
  });

  it("environment names and aliases from the policy for --env and --confirm (also --env=, and bash's split `--env` `=`)", async () => {
    expect((await ask(["run", "--env", ""])).values).toEqual(ENVIRONMENTS);
    expect((await ask(["check", "--env", "pr"])).values).toEqual(["prd", "prod", "production"]);
    expect((await ask(["run", "--confirm", "st"])).values).toEqual(["staging", "stg"]);
    expect((await ask(["run", "--env=st"])).values).toEqual(["--env=staging", "--env=stg"]);
    expect((await ask(["run", "--env", "="])).values).toEqual(ENVIRONMENTS.map((e) => `=${e}`));
    expect((await ask(["run", "--env", "=", "de"])).values).toEqual(["dev", "development"]);
  });

  it("request ids for approve, deny, show and --request, from the store (open requests only)", async () => {
    for (const words of [["approve", ""], ["deny", "r-"], ["show", ""], ["run", "--request", ""], ["approve", "--yes", ""]]) {
      expect([words, (await ask(words)).values]).toEqual([words, [pendingId]]);
    }
    expect((await ask(["approve", "r-zz"])).values).toEqual([]);
  });
});
