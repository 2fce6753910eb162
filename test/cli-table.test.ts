import { describe, expect, it } from "vitest";
import { buildProgram, COMMAND_NAMES } from "../src/cli.js";

describe("the command table", () => {
  it("COMMAND_NAMES lists exactly the top-level commands", () => {
    expect(new Set(buildProgram().commands.map((c) => c.name()))).toEqual(COMMAND_NAMES);
  });

  it("building one command builds only that one, with the same options as the full table", () => {
    const full = buildProgram();
    for (const name of COMMAND_NAMES) {
      const one = buildProgram(name);
      expect(one.commands.map((c) => c.name())).toEqual([name]);
      const a = full.commands.find((c) => c.name() === name)!;
      expect(one.commands[0]!.options.map((o) => o.flags)).toEqual(a.options.map((o) => o.flags));
    }
  });
});
