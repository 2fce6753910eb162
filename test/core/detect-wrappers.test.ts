import { describe, expect, it } from "vitest";
import { detectTarget } from "../../src/core/detect.js";
import { evaluate } from "../../src/core/evaluate.js";
import { unwrapCommand } from "../../src/core/wrappers.js";
import { fixturePolicy, input, NOW, onPath, programAt } from "./policy-fixture.js";

describe("unwrapCommand: env is transparent", () => {
  it("E9: env AWS_PROFILE=prod ./x.sh is unwrapped and its assignment counts for detection", () => {
    const u = unwrapCommand(["env", "AWS_PROFILE=prod", "./x.sh", "--all"]);
    expect(u).toEqual({ argv: ["./x.sh", "--all"], env: { AWS_PROFILE: "prod" }, wrapper: "env" });
    const d = detectTarget(fixturePolicy(), input({ env: { AWS_PROFILE: "staging", ...u.env }, args: u.argv.slice(1) }));
    expect(d.environment).toBe("production");
  });

  it.each([
    [["/usr/bin/env", "A=1", "B=x=y", "cmd"], { argv: ["cmd"], env: { A: "1", B: "x=y" }, wrapper: "env" }],
    [["env", "A=", "cmd"], { argv: ["cmd"], env: { A: "" }, wrapper: "env" }],
    [["env", "A=1", "env", "A=2", "cmd"], { argv: ["cmd"], env: { A: "2" }, wrapper: "env" }],
    [["env", "cmd", "B=2"], { argv: ["cmd", "B=2"], env: {}, wrapper: "env" }],
    [["env"], { argv: ["env"], env: {} }],
    [["env", "A=1"], { argv: ["env", "A=1"], env: {} }],
    [["./purge.sh", "A=1"], { argv: ["./purge.sh", "A=1"], env: {} }],
    [[], { argv: [], env: {} }],
  ])("%j", (argv, expected) => {
    expect(unwrapCommand(argv)).toEqual(expected);
  });
});

describe("unwrapCommand: wrappers that hide the command (E9)", () => {
  it.each([
    [["env", "-i", "./x.sh"], "env with option -i hides the command it runs"],
    [["env", "-u", "AWS_PROFILE", "./x.sh"], "env with option -u hides the command it runs"],
    [["env", "-S", "a b"], "env with option -S hides the command it runs"],
    [["env", "--", "./x.sh"], "env with option -- hides the command it runs"],
    [["sh", "-c", "./purge.sh --all"], "sh hides the command it runs"],
    [["/bin/bash", "-c", "$(curl https://x)"], "bash hides the command it runs"],
    [["bash", "./purge.sh"], "bash hides the command it runs"],
    [["zsh", "-lc", "x"], "zsh hides the command it runs"],
    [["dash", "-c", "x"], "dash hides the command it runs"],
    [["sudo", "-E", "./purge.sh"], "sudo hides the command it runs"],
    [["/usr/bin/doas", "x"], "doas hides the command it runs"],
    [["su", "-c", "x"], "su hides the command it runs"],
    [["xargs", "rm"], "xargs hides the command it runs"],
    [["nohup", "x"], "nohup hides the command it runs"],
    [["nice", "-n", "5", "x"], "nice hides the command it runs"],
    [["timeout", "5", "x"], "timeout hides the command it runs"],
    [["time", "x"], "time hides the command it runs"],
    [["stdbuf", "-oL", "x"], "stdbuf hides the command it runs"],
    [["setsid", "x"], "setsid hides the command it runs"],
    [["chroot", "/", "x"], "chroot hides the command it runs"],
    [["ssh", "bastion", "x"], "ssh hides the command it runs"],
    [["watch", "x"], "watch hides the command it runs"],
    [["parallel", "x"], "parallel hides the command it runs"],
    [["exec", "x"], "exec hides the command it runs"],
    [["eval", "x"], "eval hides the command it runs"],
    [["script", "-c", "x"], "script hides the command it runs"],
    [["unbuffer", "x"], "unbuffer hides the command it runs"],
    [["flock", "/l", "x"], "flock hides the command it runs"],
    [["ionice", "x"], "ionice hides the command it runs"],
    [["taskset", "1", "x"], "taskset hides the command it runs"],
    [["runuser", "-u", "a", "x"], "runuser hides the command it runs"],
    [["npx", "x"], "npx hides the command it runs"],
    [["npm", "exec", "x"], "npm exec hides the command it runs"],
    [["npm", "run", "purge"], "npm run hides the command it runs"],
    [["env", "A=1", "sudo", "x"], "sudo hides the command it runs"],
    [["python3", "-c", "import os"], "python3 -c runs inline code that hides the command"],
    [["node", "--eval=1"], "node --eval=1 runs inline code that hides the command"],
    [["perl", "-e", "1"], "perl -e runs inline code that hides the command"],
  ])("E9: %j → hidden", (argv, hidden) => {
    const u = unwrapCommand(argv);
    expect(u.hidden).toBe(hidden);
  });

  it("E9: the hidden result keeps the env assignments made before the wrapper", () => {
    expect(unwrapCommand(["env", "A=1", "sudo", "x"])).toEqual({ argv: ["sudo", "x"], env: { A: "1" }, wrapper: "sudo", hidden: "sudo hides the command it runs" });
  });

  it.each([[["npm", "install"]], [["python3", "script.py"]], [["node", "tool.js"]], [["terraform", "plan"]], [["psql", "-c", "select 1"]], [["nodemon", "-e", "ts"]]])(
    "%j is not a hiding wrapper",
    (argv) => {
      expect(unwrapCommand(argv).hidden).toBeUndefined();
    },
  );
});

describe("E9: evaluate denies a hidden wrapper unless the policy allows it explicitly", () => {
  const hidden = "sudo hides the command it runs";
  const detection = { environment: "production", evidence: [], problems: [] };

  it("E9: wrapper hides target → deny", () => {
    const d = evaluate(fixturePolicy(), { program: onPath("/usr/bin/sudo"), args: ["./purge.sh"], detection, now: NOW, wrapperHidden: hidden });
    expect(d.decision).toBe("deny");
    expect(d.reasons[0]).toMatch(/^wrapper hides target: sudo hides the command it runs/);
  });

  it("E9: an allow rule naming the wrapper exactly lets it through", () => {
    const p = fixturePolicy();
    p.rules.push({ name: "sudo-ok", match: { environments: ["production"], commands: ["sudo"] }, effect: { type: "allow" } });
    const d = evaluate(p, { program: onPath("/usr/bin/sudo"), args: ["x"], detection, now: NOW, wrapperHidden: hidden });
    expect(d).toMatchObject({ decision: "allow", rules: ["sudo-ok"], reasons: [] });
  });

  it("E9: an allow rule matching the wrapper only by a wildcard does not", () => {
    const p = fixturePolicy();
    p.rules.push({ name: "s-star", match: { commands: ["s*"] }, effect: { type: "allow" } });
    const d = evaluate(p, { program: onPath("/usr/bin/sudo"), args: ["x"], detection, now: NOW, wrapperHidden: hidden });
    expect(d.decision).toBe("deny");
  });

  it("E9: an explicit allow of the wrapper does not outrank a deny", () => {
    const p = fixturePolicy();
    p.rules.push({ name: "sh-ok", match: { commands: ["sh"] }, effect: { type: "allow" } });
    p.rules.push({ name: "no-purge", match: { commands: ["sh"], args: ["*purge*"] }, effect: { type: "deny", message: "no purges via sh" } });
    const d = evaluate(p, { program: onPath("/bin/sh"), args: ["-c", "./purge.sh"], detection, now: NOW, wrapperHidden: "sh hides the command it runs" });
    expect(d.decision).toBe("deny");
    expect(d.reasons).toEqual(["no purges via sh (rule no-purge)"]);
  });

  it("E9: without a wrapper the same program is judged normally", () => {
    const d = evaluate(fixturePolicy(), { program: programAt("scripts/report-daily.sh"), args: [], detection, now: NOW });
    expect(d.decision).toBe("allow");
  });
});
