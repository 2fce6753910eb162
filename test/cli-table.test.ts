import { describe, expect, it } from "vitest";
import { processRuntime } from "../src/runtime.js";
import { buildProgram, COMMAND_NAMES } from "../src/cli.js";

/** The command table is only built and parsed here; no action runs. */
const rt = processRuntime();

describe("the command table", () => {
  it("COMMAND_NAMES lists exactly the top-level commands", () => {
    expect(new Set(buildProgram(rt).commands.map((c) => c.name()))).toEqual(COMMAND_NAMES);
  });

  it("building one command builds only that one, with the same options as the full table", () => {
    const full = buildProgram(rt);
    for (const name of COMMAND_NAMES) {
      const one = buildProgram(rt, name);
      expect(one.commands.map((c) => c.name())).toEqual([name]);
      const a = full.commands.find((c) => c.name() === name)!;
      expect(one.commands[0]!.options.map((o) => o.flags)).toEqual(a.options.map((o) => o.flags));
    }
  });
});
