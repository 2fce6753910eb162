import { describe, expect, it } from "vitest";
import { ONE_SHOT_BYTES, optimisingTiers } from "../../src/adapters/policy-files.js";

/**
 * Which optimising compilers a policy parse turns off and back on (policy-files.ts withParseTuning): only
 * those that are on, so that turning them back on restores exactly what the process had.
 */
describe("optimisingTiers: the compilers a short parse turns off, and back on after it", () => {
  const cases: Array<[string, string, string[], string[]]> = [
    ["Node 20 (V8 11.3): TurboFan only, Maglev is off by default", "11.3.244.8-node.33", [], ["turbofan"]],
    ["Node 22 (V8 12.4): both", "12.4.254.21-node.33", [], ["turbofan", "maglev"]],
    ["Node 24 (V8 13.6): both", "13.6.233.17-node.37", [], ["turbofan", "maglev"]],
    ["node --no-maglev: Maglev stays off afterwards", "13.6.233.17-node.37", ["--no-maglev"], ["turbofan"]],
    ["node --no_turbofan (underscores): TurboFan stays off", "13.6.233.17-node.37", ["--no_turbofan"], ["maglev"]],
    ["node --maglev on Node 20: it was asked for, so it comes back", "11.3.244.8-node.33", ["--maglev"], ["turbofan", "maglev"]],
    ["the last of --maglev / --no-maglev wins", "11.3.244.8-node.33", ["--maglev", "--no-maglev"], ["turbofan"]],
    ["--jitless (command line): nothing is touched", "13.6.233.17-node.37", ["--jitless"], []],
    ["--jitless from NODE_OPTIONS (split into words): nothing is touched", "13.6.233.17-node.37", ["", "--max-old-space-size=512", "--jitless"], []],
    ["an unreadable V8 version: TurboFan only (never turns Maglev on)", "", [], ["turbofan"]],
    ["unrelated flags change nothing", "12.4.254.21-node.33", ["--max-old-space-size=512", "--maglev-inlining"], ["turbofan", "maglev"]],
  ];
  it.each(cases)("%s", (_what, v8, args, expected) => {
    expect(optimisingTiers(v8, args).sort()).toEqual([...expected].sort());
  });

  it("this Node's own answer names only flags its V8 accepts", async () => {
    const { setFlagsFromString } = await import("node:v8");
    const tiers = optimisingTiers(process.versions.v8, process.execArgv);
    expect(tiers).toContain("turbofan");
    // V8 prints an error and ignores an unknown flag; these must be known ones, set back as they were.
    for (const t of tiers) setFlagsFromString(`--${t}`);
  });

  it("the threshold is a size a 1,000-rule policy is under and a 2,500-rule one is over", () => {
    // docs/benchmarks.md "Cold memory": 1,000 rules of the bench's policy are ~150 KB, 2,500 are ~375 KB.
    expect(ONE_SHOT_BYTES).toBeGreaterThan(150_000);
    expect(ONE_SHOT_BYTES).toBeLessThan(375_000);
  });
});
