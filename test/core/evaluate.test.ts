import { describe, expect, it } from "vitest";
import { detectTarget } from "../../src/core/detect.js";
import { commandMatches, evaluate } from "../../src/core/evaluate.js";
import type { Detection, Policy, ResolvedProgram, Rule } from "../../src/core/types.js";
import { determined, fixturePolicy, input, NOW, onPath, programAt, requireEffect } from "./policy-fixture.js";

const run = (program: ResolvedProgram, args: string[], env: string | Detection = "production", p: Policy = fixturePolicy(), now = NOW) =>
  evaluate(p, { program, args, detection: typeof env === "string" ? determined(env) : env, now });

describe("rule effects and precedence", () => {
  it.each([
    ["purge with --all needs an SRE and a DBA", programAt("scripts/purge-lb.sh"), ["--all"], "production", "approval", ["purge-needs-an-sre", "purge-needs-a-dba-too"]],
    ["purge without --all needs a DBA", programAt("scripts/purge-lb.sh"), ["--region", "us-east-1"], "production", "approval", ["purge-needs-a-dba-too"]],
    ["reports are allowed", programAt("scripts/report-daily.sh"), [], "production", "allow", ["reports-are-read-only"]],
    ["terraform destroy is denied over the plan allow", onPath("/usr/bin/terraform"), ["plan", "destroy"], "production", "deny", ["never-destroy-prod-by-hand", "terraform-plan"]],
    ["terraform plan is allowed", onPath("/usr/bin/terraform"), ["plan"], "production", "allow", ["terraform-plan"]],
    ["P12: terraform apply matches no rule in protected production", onPath("/usr/bin/terraform"), ["apply"], "production", "deny", []],
    ["P12: anything in unprotected development is allowed", onPath("/usr/bin/terraform"), ["apply"], "development", "allow", []],
    ["psql is allowed in staging", onPath("/usr/bin/psql"), ["-c", "select 1"], "staging", "allow", ["psql-in-staging"]],
    ["P12: psql in production matches no rule", onPath("/usr/bin/psql"), [], "production", "deny", []],
    ["purge in staging matches no rule: staging is protected", programAt("scripts/purge-lb.sh"), ["--all"], "staging", "deny", []],
  ] as const)("%s", (_name, program, args, env, decision, rules) => {
    const d = run(program, [...args], env);
    expect(d.decision).toBe(decision);
    expect(d.rules).toEqual(rules);
  });

  it("deny > require > allow, whatever the order of the rules", () => {
    const rules: Rule[] = [
      { name: "a", match: { commands: ["tool"] }, effect: { type: "allow" } },
      { name: "r", match: { commands: ["tool"] }, effect: requireEffect() },
      { name: "d", match: { commands: ["tool"], args: ["--force"] }, effect: { type: "deny", message: "never --force" } },
    ];
    for (const order of [rules, [...rules].reverse()]) {
      const p = fixturePolicy({ rules: order });
      expect(run(onPath("/bin/tool"), ["--force"], "production", p).decision).toBe("deny");
      expect(run(onPath("/bin/tool"), [], "production", p).decision).toBe("approval");
    }
    const allowOnly = fixturePolicy({ rules: [rules[0] as Rule] });
    expect(run(onPath("/bin/tool"), [], "production", allowOnly).decision).toBe("allow");
  });

  it("multiple matching requires are all returned (AND), named by rule, in policy order", () => {
    const d = run(programAt("scripts/purge-lb.sh"), ["--all"]);
    expect(d.requirements).toEqual([
      { rule: "purge-needs-an-sre", approvals: 1, from: ["sre"], reason: true, confirm: true, ttlSeconds: 1800 },
      { rule: "purge-needs-a-dba-too", approvals: 1, from: ["dba"], reason: true, confirm: false, ttlSeconds: 3600 },
    ]);
    expect(d.reasons).toEqual([]);
  });

  it("a deny carries its message and rule name; every deny is listed", () => {
    const p = fixturePolicy();
    p.rules.push({ name: "no-destroy-at-all", match: { args: ["destroy"] }, effect: { type: "deny", message: "no destroy" } });
    const d = run(onPath("/usr/bin/terraform"), ["destroy"], "production", p);
    expect(d.reasons).toEqual([
      "terraform destroy against production runs only from the release pipeline (rule never-destroy-prod-by-hand)",
      "no destroy (rule no-destroy-at-all)",
    ]);
  });

  it("P12: the fail-closed reason names the protected environment", () => {
    const d = run(onPath("/usr/bin/terraform"), ["apply"]);
    expect(d.reasons).toEqual(["no rule allows this command in protected environment production (fail closed)"]);
    expect(d.protected).toBe(true);
  });

  it("a rule without environments matches every determined environment", () => {
    const p = fixturePolicy({ rules: [{ name: "any-env", match: { commands: ["tool"] }, effect: { type: "allow" } }] });
    for (const env of ["production", "staging", "development"]) expect(run(onPath("/bin/tool"), [], env, p).rules).toEqual(["any-env"]);
  });
});

describe("command matching (C1, C3, symlinks)", () => {
  it.each([
    ["C1: relative glob matches the path relative to the root", "scripts/purge-*.sh", programAt("scripts/purge-lb.sh"), true],
    ["C1: a deeper path does not match a one-level *", "scripts/purge-*.sh", programAt("scripts/old/purge-lb.sh"), false],
    ["C1: ** spans directories", "scripts/**/purge-*.sh", programAt("scripts/old/purge-lb.sh"), true],
    ["C1: the same name elsewhere on disk does not match a relative glob", "scripts/purge-*.sh", onPath("/tmp/scripts/purge-lb.sh"), false],
    ["C1: how argv[0] was typed does not matter for a relative glob", "scripts/purge-*.sh", programAt("scripts/purge-lb.sh", "./scripts/../scripts//purge-lb.sh"), true],
    ["C3: a base-name glob matches wherever the program lives", "psql", onPath("/home/u/bin/psql"), true],
    ["C3: a base-name glob matches the real name of a symlink (k -> kubectl)", "kubectl", onPath("/usr/local/bin/kubectl", "k"), true],
    ["C3: a base-name glob matches the typed name of a symlink (psql -> pg_wrapper)", "psql", onPath("/usr/share/postgresql-common/pg_wrapper", "psql"), true],
    ["base names are case-sensitive", "terraform", onPath("/usr/bin/Terraform"), false],
    ["a base-name glob does not match a directory part", "scripts", programAt("scripts/purge-lb.sh"), false],
  ])("%s", (_name, glob, program, expected) => {
    expect(commandMatches(glob, program)).toBe(expected);
  });

  it("C3: a symlink cannot dodge a deny by its name", () => {
    const p = fixturePolicy();
    const viaAlias = onPath("/usr/bin/terraform", "/home/u/bin/tf");
    expect(run(viaAlias, ["destroy"], "production", p).decision).toBe("deny");
  });
});

describe("argument matching (C6, C7, C8)", () => {
  const p = fixturePolicy({
    rules: [
      { name: "dry-run-ok", match: { commands: ["migrate"], args: ["--dry-run"] }, effect: { type: "allow" } },
      { name: "real-run-needs-approval", match: { commands: ["migrate"], args: ["--no-dry-run"] }, effect: requireEffect() },
      { name: "two-args", match: { commands: ["tool"], args: ["a", "b"] }, effect: { type: "deny", message: "a and b" } },
      { name: "target-prefix", match: { commands: ["tool"], args: ["--target=*"] }, effect: { type: "deny", message: "targeted" } },
    ],
  });
  const m = onPath("/usr/bin/migrate");
  const t = onPath("/usr/bin/tool");

  it("C6: an arg glob is a presence test; extra arguments do not stop a match", () => {
    expect(run(m, ["--dry-run"], "production", p)).toMatchObject({ decision: "allow", rules: ["dry-run-ok"] });
    expect(run(m, ["--dry-run", "--verbose"], "production", p)).toMatchObject({ decision: "allow", rules: ["dry-run-ok"] });
  });

  it("C6: appending --no-dry-run makes the require rule match, and it outranks the allow", () => {
    const d = run(m, ["--dry-run", "--no-dry-run"], "production", p);
    expect(d).toMatchObject({ decision: "approval", rules: ["dry-run-ok", "real-run-needs-approval"] });
  });

  it("C6: --no-dry-run is not --dry-run (whole-argument match)", () => {
    expect(run(m, ["--no-dry-run"], "production", p).rules).toEqual(["real-run-needs-approval"]);
  });

  it("C7: [\"a b\"] is one argument and matches neither a nor b", () => {
    expect(run(t, ["a b"], "development", p).rules).toEqual([]);
    expect(run(t, ["a", "b"], "development", p).rules).toEqual(["two-args"]);
    expect(run(t, ["b", "x", "a"], "development", p).rules).toEqual(["two-args"]);
  });

  it("C7: a trailing backslash, -- and newlines are ordinary argument text", () => {
    expect(run(t, ["--target=x\\"], "development", p).rules).toEqual(["target-prefix"]);
    expect(run(t, ["--", "--target=a\nb"], "development", p).rules).toEqual(["target-prefix"]);
  });

  it.each([
    ["*", ["*"], true],
    ["*", ["anything"], true],
    ["$(id)", ["$(id)"], true],
    ["$(id)", ["uid=0"], false],
    ["a;rm -rf /", ["a;rm -rf /"], true],
    ["a;rm -rf /", ["a", "rm -rf /"], false],
    ["--file=*", ["--file=/etc/passwd"], true],
    ["--file=*", ["--file=../../x"], true],
    ["--force", ["--FORCE"], false],
    ["[abc]", ["[abc]"], false],
    ["\\[abc\\]", ["[abc]"], true],
  ])("C8: arg glob %j vs %j → %s", (glob, args, expected) => {
    const q = fixturePolicy({ rules: [{ name: "r", match: { args: [glob] }, effect: { type: "allow" } }] });
    expect(run(t, args, "production", q).rules).toEqual(expected ? ["r"] : []);
  });

  it("C8: an argument containing a glob character is literal, not a pattern", () => {
    const q = fixturePolicy({ rules: [{ name: "r", match: { args: ["--all"] }, effect: { type: "deny", message: "x" } }] });
    expect(run(t, ["--a*"], "production", q).rules).toEqual([]);
  });
});

describe("target problems and undetermined targets", () => {
  it("problems deny with every problem as a reason, even where a rule would allow", () => {
    const detection = detectTarget(fixturePolicy(), input({ declared: "staging", env: { AWS_PROFILE: "prod" } }));
    const d = run(programAt("scripts/report-daily.sh"), [], detection);
    expect(d.decision).toBe("deny");
    expect(d.environment).toBeNull();
    expect(d.protected).toBe(true);
    expect(d.reasons).toEqual(detection.problems);
    expect(d.evidence).toEqual(detection.evidence);
  });

  it("a rule naming environments never matches an undetermined target", () => {
    const d = run(programAt("scripts/report-daily.sh"), [], { environment: null, evidence: [], problems: ["target undetermined: x"] });
    expect(d.rules).toEqual([]);
    expect(d.reasons).toEqual(["target undetermined: x"]);
  });

  it("an environment the policy does not define is treated as protected and denied", () => {
    const d = run(onPath("/bin/tool"), [], { environment: "prod-eu", evidence: [], problems: [] });
    expect(d).toMatchObject({ decision: "deny", protected: true, environment: null, breakGlassAvailable: false });
    expect(d.reasons[0]).toContain("prod-eu");
  });

  it("an undetermined target with no stated problem still denies", () => {
    const d = run(onPath("/bin/tool"), [], { environment: null, evidence: [], problems: [] });
    expect(d.decision).toBe("deny");
    expect(d.reasons).toEqual(["target undetermined"]);
  });
});

describe("freezes", () => {
  const from = Date.parse("2026-12-23T00:00:00Z");
  const until = Date.parse("2027-01-02T00:00:00Z");
  it.each([
    ["one ms before from", from - 1, false],
    ["at from (inclusive)", from, true],
    ["inside", from + 86_400_000, true],
    ["one ms before until", until - 1, true],
    ["at until (exclusive)", until, false],
  ])("%s", (_name, now, frozen) => {
    const d = run(programAt("scripts/report-daily.sh"), [], "production", fixturePolicy(), now);
    expect(d.decision).toBe(frozen ? "deny" : "allow");
    expect(d.freezes).toEqual(frozen ? ["year-end"] : []);
  });

  it("a freeze denies with its name and reason and says break-glass is available", () => {
    const d = run(programAt("scripts/report-daily.sh"), [], "production", fixturePolicy(), from);
    expect(d.reasons).toEqual([
      'freeze "year-end" is in force for production until 2027-01-02T00:00:00.000Z: Year-end change freeze; break-glass is available (--break-glass, audited)',
    ]);
    expect(d.breakGlassAvailable).toBe(true);
    expect(d.rules).toEqual(["reports-are-read-only"]);
  });

  it("a freeze does not touch other environments", () => {
    expect(run(onPath("/usr/bin/psql"), [], "staging", fixturePolicy(), from).decision).toBe("allow");
  });

  it("without break_glass for the environment the freeze says nothing of it", () => {
    const d = run(programAt("scripts/report-daily.sh"), [], "production", fixturePolicy({ breakGlass: undefined }), from);
    expect(d.breakGlassAvailable).toBe(false);
    expect(d.reasons[0]).not.toContain("break-glass");
  });
});

describe("break-glass availability", () => {
  it.each([
    ["production", true],
    ["staging", false],
    ["development", false],
  ])("%s → %s", (env, available) => {
    expect(run(onPath("/bin/tool"), [], env).breakGlassAvailable).toBe(available);
  });
});

describe("scale", () => {
  it("a 1,000-rule policy evaluates correctly", () => {
    const rules: Rule[] = Array.from({ length: 1000 }, (_, i) => ({
      name: `job-${i}`,
      match: { environments: [i % 2 === 0 ? "production" : "staging"], commands: [`scripts/job-${i}-*.sh`], args: i % 3 === 0 ? ["--apply"] : undefined },
      effect: i % 5 === 0 ? requireEffect() : i % 7 === 0 ? { type: "deny", message: `job ${i} is retired` } : { type: "allow" },
    }));
    rules.push({ name: "catch-all-apply", match: { environments: ["production"], args: ["--apply"] }, effect: requireEffect({ from: ["dba"] }) });
    const p = fixturePolicy({ rules });
    expect(run(programAt("scripts/job-2-nightly.sh"), [], "production", p)).toMatchObject({ decision: "allow", rules: ["job-2"] });
    expect(run(programAt("scripts/job-10-nightly.sh"), [], "production", p)).toMatchObject({ decision: "approval", rules: ["job-10"] });
    expect(run(programAt("scripts/job-14-x.sh"), [], "production", p)).toMatchObject({ decision: "deny", rules: ["job-14"] });
    expect(run(programAt("scripts/job-3-x.sh"), [], "production", p)).toMatchObject({ decision: "deny", rules: [] });
    expect(run(programAt("scripts/job-3-x.sh"), ["--apply"], "staging", p)).toMatchObject({ decision: "allow", rules: ["job-3"] });
    const d = run(programAt("scripts/job-996-x.sh"), ["--apply"], "production", p);
    expect(d).toMatchObject({ decision: "approval", rules: ["job-996", "catch-all-apply"] });
    expect(d.requirements.map((r) => r.rule)).toEqual(["catch-all-apply"]);
  });
});

describe("names as typed versus real names", () => {
  it("C1: a symlink named like an allowed program does not borrow its allow; a deny still matches the typed name", () => {
    const p = fixturePolicy({
      rules: [
        { name: "psql-allowed", match: { environments: ["production"], commands: ["psql"] }, effect: { type: "allow" } },
        { name: "no-dropdb", match: { environments: ["production"], commands: ["dropdb"] }, effect: { type: "deny", message: "never" } },
      ],
    });
    // `psql` on PATH is really /usr/bin/dropdb: the allow on psql must not apply, and the deny on dropdb does.
    const disguised = onPath("/usr/bin/dropdb", "psql");
    expect(run(disguised, [], "production", p).decision).toBe("deny");
    expect(run(disguised, [], "production", p).rules).toEqual(["no-dropdb"]);
    // A symlink named `dropdb` to psql: the deny on the typed name still wins.
    expect(run(onPath("/usr/bin/psql", "dropdb"), [], "production", p).decision).toBe("deny");
    // The real psql is allowed.
    expect(run(onPath("/usr/bin/psql", "psql"), [], "production", p).decision).toBe("allow");
  });
});
