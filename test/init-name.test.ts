/** `guard init` names the principal after a person, never after a shared login such as root (issue 17 item 12). */
import { describe, expect, it } from "vitest";
import { principalName } from "../src/commands/init.js";

describe("guard init: the principal's name", () => {
  it.each([
    [undefined, "alice@laptop", "root", "alice", "from your key's comment"],
    [undefined, "Bob.Smith@example.com", "root", "bob.smith", "from your key's comment"],
    [undefined, undefined, "carol", "carol", "your login name"],
    [undefined, "root@host", "dave", "dave", "your login name"],
    [undefined, undefined, "root", "me", "a placeholder"],
    [undefined, "@@@", "", "me", "a placeholder"],
    ["erin", "alice@laptop", "root", "erin", "--name"],
  ])("--name %s, key comment %s, login %s → %s", (given, comment, login, name, from) => {
    const r = principalName(given, comment, () => login);
    expect(r.name).toBe(name);
    expect(r.from).toContain(from);
  });

  it("a --name that is not a principal name is a usage error (64)", () => {
    expect(() => principalName("Not Valid", undefined, () => "x")).toThrow(expect.objectContaining({ exitCode: 64 }));
  });
});
