/**
 * The loader's structural and cross-file checks (beyond the SECURITY-CASES catalogue): names, references,
 * detectors, rule effects, durations, freezes, merging, digests, lint warnings and test files.
 */
import { describe, expect, it } from "vitest";
import { ENVS_AND_PRINCIPALS, KEYS, ROOT, VALID, codes, errors, located, parse, parseOne, rulesFile, warnings } from "./helpers.js";

const withRule = (body: string) => parse({ "policies/a.yaml": ENVS_AND_PRINCIPALS, "policies/rules.yaml": rulesFile(body) });
const ruleErrors = (body: string) => codes(errors(withRule(body)));
const withAllow = (rule: string) => parseOne(VALID.replace("rules:\n", `rules:\n${rule}`));
const withDetector = (detector: string) => parseOne(VALID.replace('      - env: DATABASE_URL\n        matches: "*prod-db.*"\n', detector));

describe("the normalised policy", () => {
  it("carries every field of the YAML, with defaults, locations, root and digest", () => {
    const r = parseOne(`${VALID}default_environment: staging\nbind_env: [PGHOST, "VAULT_*"]\nbreak_glass:\n  environments: [production]\n  groups: [sre]\n`);
    expect(r.diagnostics).toEqual([]);
    const p = r.policy!;
    expect(p.version).toBe(1);
    expect(p.root).toBe(ROOT);
    expect(p.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(p.defaultEnvironment).toBe("staging");
    expect(p.bindEnv).toEqual(["PGHOST", "VAULT_*"]);
    expect(p.breakGlass).toEqual({ environments: ["production"], groups: ["sre"] });
    expect(p.environments.production).toMatchObject({ name: "production", protected: true, aliases: ["prod"], at: { file: "policies/guard.yaml", line: 3, col: 3 } });
    expect(p.environments.production!.detect).toEqual([{ type: "env", variable: "DATABASE_URL", matcher: { kind: "glob", pattern: "*prod-db.*" }, at: { file: "policies/guard.yaml", line: 7, col: 9 } }]);
    expect(p.environments.staging).toMatchObject({ protected: false, aliases: ["stg"] });
    expect(p.principals.bob).toMatchObject({ name: "bob", groups: ["sre", "dba"], keys: [{ type: "ssh-ed25519", fingerprint: expect.stringMatching(/^SHA256:/), comment: "bob@example.com" }] });
    expect(p.rules).toEqual([
      {
        name: "purge-needs-an-sre",
        match: { environments: ["production"], commands: ["maintenance/purge-*.sh"] },
        effect: { type: "require", approvals: 1, from: ["sre"], reason: true, confirm: false, ttlSeconds: 1800 },
        at: { file: "policies/guard.yaml", line: 25, col: 11 },
      },
    ]);
    expect(p.freezes).toEqual([]);
  });

  it("records are prototype-free, so a user-supplied name can never reach Object.prototype", () => {
    const p = parseOne(VALID).policy!;
    expect(Object.getPrototypeOf(p.environments)).toBeNull();
    expect(p.environments["constructor"]).toBeUndefined();
    expect(p.principals["toString"]).toBeUndefined();
  });

  it("descriptions on environments and rules are kept", () => {
    const r = parseOne(VALID.replace("    protected: true\n", "    description: Live traffic.\n    protected: true\n").replace("    match:\n", "    description: |\n      Purges need a second SRE.\n    match:\n"));
    expect(r.diagnostics).toEqual([]);
    expect(r.policy?.environments.production?.description).toBe("Live traffic.");
    expect(r.policy?.rules[0]?.description).toBe("Purges need a second SRE.\n");
  });

  it("the ttl defaults to 1h, reason and confirm to false, and `from` omitted means anyone", () => {
    const r = withRule("    match: { environments: [production] }\n    require: { approvals: 1 }\n");
    expect(r.policy?.rules[0]?.effect).toEqual({ type: "require", approvals: 1, from: null, reason: false, confirm: false, ttlSeconds: 3600 });
  });

  it("allow and deny effects, and detector kinds, normalise as types.ts says", () => {
    const r = parse({
      "policies/a.yaml": ENVS_AND_PRINCIPALS.replace(
        '      - env: DATABASE_URL\n        matches: "*prod-db.*"\n',
        '      - env: AWS_PROFILE\n        equals: prod-admin\n      - env: PGHOST\n        regex: "^prod-[0-9]+$"\n      - kube_context: "prod-*"\n      - host: "db1.*"\n      - arg: --env\n      - arg: --profile\n        equals: prod\n      - argument: "*host=prod-db*"\n',
      ),
      "policies/rules.yaml": 'version: 1\nrules:\n  - name: ok\n    match: { commands: [report] }\n    allow: true\n  - name: nope\n    match: { commands: [terraform], args: [destroy] }\n    deny: "use the pipeline"\n',
    });
    expect(r.diagnostics).toEqual([]);
    const strip = <T extends { at?: unknown }>(x: T) => ({ ...x, at: undefined });
    expect(r.policy!.environments.production!.detect.map(strip)).toEqual([
      { type: "env", variable: "AWS_PROFILE", matcher: { kind: "equals", value: "prod-admin" }, at: undefined },
      { type: "env", variable: "PGHOST", matcher: { kind: "regex", pattern: "^prod-[0-9]+$" }, at: undefined },
      { type: "kube_context", pattern: "prod-*", at: undefined },
      { type: "host", pattern: "db1.*", at: undefined },
      { type: "arg", flag: "--env", at: undefined },
      { type: "arg", flag: "--profile", matcher: { kind: "equals", value: "prod" }, at: undefined },
      { type: "argument", pattern: "*host=prod-db*", at: undefined },
    ]);
    expect(r.policy!.rules.map((x) => x.effect)).toEqual([{ type: "allow" }, { type: "deny", message: "use the pipeline" }]);
  });
});

describe("names (ASCII, lowercase: E2)", () => {
  it.each([
    ["uppercase", "Production"],
    ["a Cyrillic о", "prоd"],
    ["fullwidth letters", "ｐｒｏｄ"],
    ["a leading dash", "-prod"],
    ["a dot", "prod.eu"],
    ["65 characters", "a".repeat(65)],
  ])("an environment name with %s is refused", (_name, bad) => {
    const r = parseOne(VALID.replace("  staging:\n", `  "${bad}":\n`));
    expect(codes(errors(r))).toContain("bad-name");
  });

  it.each([
    ["an alias", () => parseOne(VALID.replace("aliases: [prod]", "aliases: [Prod]"))],
    ["a group", () => parseOne(VALID.replace("groups: [dba]", "groups: [DBAs]"))],
    ["a principal", () => parseOne(VALID.replace("  carol:\n", "  Carol:\n"))],
    ["a rule", () => parseOne(VALID.replace("name: purge-needs-an-sre", "name: purge needs an sre"))],
  ])("%s with a bad name is refused", (_name, run) => {
    expect(codes(errors(run()))).toContain("bad-name");
  });

  it("a number where a name is expected is refused (quote it)", () => {
    const r = parseOne(VALID.replace("  staging:\n", "  2024:\n"));
    expect(codes(errors(r))).toContain("key-not-string");
  });
});

describe("references between definitions", () => {
  it.each([
    ["a rule naming an undefined environment (with a suggestion)", "environments: [prodution]", "undefined-environment", "did you mean `production`?"],
    ["a rule naming an alias instead of the environment", "environments: [prod]", "alias-not-name", "write `production`"],
    ["a rule naming a group nobody is in", "from: [sres]", "undefined-group", "did you mean `sre`?"],
  ])("%s", (_name, replacement, code, hint) => {
    const r = parseOne(VALID.replace(replacement.startsWith("from") ? "from: [sre]" : "environments: [production]\n      commands", replacement.startsWith("from") ? replacement : `${replacement}\n      commands`));
    const d = errors(r).find((x) => x.code === code);
    expect(d, JSON.stringify(r.diagnostics)).toBeDefined();
    expect(d!.hint).toBe(hint);
    expect(r.policy).toBeUndefined();
  });

  it.each([
    ["default_environment", "default_environment: developmnet\n", "undefined-environment"],
    ["break_glass environments", "break_glass: { environments: [prd], groups: [sre] }\n", "undefined-environment"],
    ["break_glass groups", "break_glass: { environments: [production], groups: [oncall] }\n", "undefined-group"],
    ["freeze environments", 'freezes:\n  - { name: f, environments: [prod-eu], from: "2026-12-23T00:00:00Z", until: "2027-01-02T00:00:00Z", reason: r }\n', "undefined-environment"],
  ])("%s must name defined things", (_name, extra, code) => {
    expect(codes(errors(parseOne(`${VALID}${extra}`)))).toEqual([code]);
  });

  it("an alias equal to another environment's name is an error", () => {
    const r = parseOne(VALID.replace("aliases: [stg]", "aliases: [stg, production]"));
    expect(located(errors(r))).toEqual(["alias-collision@10:20"]);
  });

  it("an alias used by two environments is an error at both", () => {
    const r = parseOne(VALID.replace("aliases: [stg]", "aliases: [prod]"));
    expect(located(errors(r))).toEqual(["alias-collision@5:15", "alias-collision@10:15"]);
  });
});

describe("definitions merged across files", () => {
  const second = (body: string) => parse({ "policies/a.yaml": VALID, "policies/b.yaml": `version: 1\n${body}` });

  it("an environment defined in two files is an error at both places", () => {
    const r = second("environments:\n  staging: {}\n");
    expect(errors(r).map((d) => `${d.file}:${d.line}:${d.col}:${d.code}`)).toEqual(["policies/a.yaml:9:3:duplicate-definition", "policies/b.yaml:3:3:duplicate-definition"]);
    expect(errors(r)[0]!.message).toContain("also at policies/b.yaml:3:3");
  });

  it.each([
    ["a principal", `principals:\n  alice:\n    keys: ["${KEYS.dave}"]\n`],
    ["a rule name", "rules:\n  - name: purge-needs-an-sre\n    match: {}\n    deny: x\n"],
    ["default_environment", "default_environment: staging\n"],
  ])("%s defined twice is an error at both places", (_name, body) => {
    const extra: Record<string, string> = body.startsWith("default") ? { "policies/c.yaml": "version: 1\ndefault_environment: production\n" } : {};
    const r = parse({ "policies/a.yaml": VALID, "policies/b.yaml": `version: 1\n${body}`, ...extra });
    const dup = errors(r).filter((d) => d.code === "duplicate-definition");
    expect(dup.length).toBe(2);
    expect(new Set(dup.map((d) => d.file)).size).toBe(2);
  });

  it("rules keep file order (sorted by path), then their order in each file", () => {
    const r = parse({
      "policies/z.yaml": 'version: 1\nrules:\n  - { name: z1, match: {}, deny: "z" }\n',
      "policies/a.yaml": VALID,
      "policies/m.yaml": "version: 1\nrules:\n  - { name: m1, match: { commands: [x] }, allow: true }\n  - { name: m2, match: { commands: [z] }, allow: true }\n",
    });
    expect(r.policy?.rules.map((x) => x.name)).toEqual(["purge-needs-an-sre", "m1", "m2", "z1"]);
  });

  it("every policy file must say `version: 1`", () => {
    const unversioned = parse({ "policies/a.yaml": VALID, "policies/b.yaml": "environments:\n  dev: {}\n" });
    expect(errors(unversioned).map((d) => `${d.file}:${d.line}:${d.col}:${d.code}`)).toEqual(["policies/b.yaml:1:1:missing-field"]);
    expect(located(errors(parseOne(VALID.replace("version: 1", "version: 2"))))).toEqual(["unsupported-version@1:10"]);
    expect(codes(errors(parseOne(VALID.replace("version: 1", 'version: "1"'))))).toEqual(["wrong-type"]);
  });

  it("the digest depends on what decides only: not on the directory, the root, the tests, comments or file names (digest.test.ts has the rest)", () => {
    const a = parse({ "policies/guard.yaml": VALID }).policy!.digest;
    expect(parse({ "/elsewhere/pol/guard.yaml": VALID }, "/elsewhere").policy!.digest).toBe(a);
    expect(parse({ "policies/guard.yaml": VALID, "policies/x.test.yaml": "tests:\n  - { name: t, run: [x], expect: { decision: deny } }\n" }).policy!.digest).toBe(a);
    expect(parse({ "policies/guard.yaml": `${VALID}# a comment\n` }).policy!.digest).toBe(a);
    expect(parse({ "policies/other.yaml": VALID }).policy!.digest).toBe(a);
    expect(parse({ "policies/guard.yaml": VALID.replace("ttl: 30m", "ttl: 31m") }).policy!.digest).not.toBe(a);
  });
});

describe("detectors", () => {
  it.each([
    ["no kind", "      - matches: x\n", "detector-kind"],
    ["two kinds", '      - env: A\n        host: "db*"\n        equals: x\n', "detector-kind"],
    ["env without a matcher", "      - env: DATABASE_URL\n", "detector-matcher"],
    ["env with two matchers", "      - env: A\n        equals: x\n        matches: y\n", "detector-matcher"],
    ["a matcher on a host detector", '      - host: "db*"\n        equals: db1\n', "detector-matcher"],
    ["a bad variable name", "      - env: DATABASE-URL\n        equals: x\n", "bad-variable"],
    ["a bad flag", "      - arg: env\n", "bad-flag"],
    ["an empty glob", '      - host: ""\n', "empty-value"],
    ["an empty equals", '      - env: A\n        equals: ""\n', "empty-value"],
    ["a regex that does not compile", '      - env: A\n        regex: "prod-(["\n', "bad-regex"],
    ["a backreference (not RE2)", '      - env: A\n        regex: "^(a)\\\\1$"\n', "bad-regex"],
    ["a lookahead (not RE2)", '      - env: A\n        regex: "^(?=prod)"\n', "bad-regex"],
    ["a lookbehind (not RE2)", '      - env: A\n        regex: "(?<!staging-)db"\n', "bad-regex"],
    ["H2: a reversed range in `matches` (tru[e-a])", '      - env: A\n        matches: "tru[e-a]"\n', "bad-glob"],
    ["H2: a reversed range in a `host` glob", '      - host: "db[9-1].*"\n', "bad-glob"],
    ["H2: a reversed range in a `kube_context` glob", '      - kube_context: "prod-[z-a]*"\n', "bad-glob"],
    ["H2: a reversed range in an `argument` glob", '      - argument: "*host=[b-a]*"\n', "bad-glob"],
    ["an unknown field", "      - env: A\n        equal: x\n", "unknown-field"],
    ["a list instead of a mapping", "      - [env, A]\n", "wrong-type"],
  ])("%s is refused", (_name, detector, code) => {
    const r = withDetector(detector);
    expect(codes(errors(r))).toContain(code);
    expect(r.policy).toBeUndefined();
  });

  it("H2: a bad glob is located at its value, with a hint", () => {
    const d = errors(withDetector('      - env: A\n        matches: "tru[e-a]"\n')).find((e) => e.code === "bad-glob");
    expect(d?.message).toMatch(/"tru\[e-a\]" is not a valid glob: glob character range out of order/);
    expect(d?.hint).toMatch(/low to high/);
    expect(d?.line).toBeGreaterThan(0);
  });

  it("an unknown detector field suggests the right one", () => {
    expect(errors(withDetector("      - env: A\n        matchs: x\n")).find((d) => d.code === "unknown-field")?.hint).toBe("did you mean `matches`?");
  });

  it.each([["^prod-[0-9]+$"], ["^(eu|us)-prod$"], ["^(a|a)*$"], ["^(a+)+$"], ["^db[0-9]{1,3}\\\\.example\\\\.com$"]])("a reasonable regex %s is accepted", (re) => {
    expect(withDetector(`      - env: A\n        regex: "${re}"\n`).diagnostics).toEqual([]);
  });
});

describe("rules", () => {
  it.each([
    ["no effect", "    match: {}\n", "rule-effect"],
    ["two effects", "    match: {}\n    allow: true\n    deny: no way\n", "rule-effect"],
    ["`allow: false`", "    match: {}\n    allow: false\n", "allow-false"],
    ["`allow: yes`", "    match: {}\n    allow: yes\n", "wrong-type"],
    ["an empty deny message", '    match: {}\n    deny: ""\n', "empty-value"],
    ["a deny that is not a message", "    match: {}\n    deny: true\n", "wrong-type"],
    ["no match", "    allow: true\n", "missing-field"],
    ["an empty environments list", "    match: { environments: [] }\n    allow: true\n", "empty-list"],
    ["an absolute command glob", '    match: { commands: ["/usr/bin/psql"] }\n    allow: true\n', "bad-command-glob"],
    ["a ./ command glob", '    match: { commands: ["./maintenance/x.sh"] }\n    allow: true\n', "bad-command-glob"],
    ["a .. command glob", '    match: { commands: ["maintenance/../x.sh"] }\n    allow: true\n', "bad-command-glob"],
    ["an empty argument glob", '    match: { args: [""] }\n    allow: true\n', "empty-value"],
    ["H2: a reversed range in an argument glob", '    match: { args: ["--[z-a]*"] }\n    allow: true\n', "bad-glob"],
    ["H2: a reversed range in a command glob", '    match: { commands: ["maintenance/purge-[z-a].sh"] }\n    allow: true\n', "bad-glob"],
    ["H2: a reversed range in a bare command glob", '    match: { commands: ["ps[z-a]l"] }\n    allow: true\n', "bad-glob"],
    ["require without approvals", "    match: {}\n    require: { from: [sre] }\n", "missing-field"],
    ["an empty `from`", "    match: {}\n    require: { approvals: 1, from: [] }\n", "empty-list"],
    ["a ttl under a minute", "    match: {}\n    require: { approvals: 1, ttl: 30s }\n", "out-of-range"],
    ["a ttl over seven days", "    match: {}\n    require: { approvals: 1, ttl: 7d1s }\n", "out-of-range"],
    ["a fractional ttl", "    match: {}\n    require: { approvals: 1, ttl: 1.5h }\n", "bad-duration"],
    ["a ttl without a unit", "    match: {}\n    require: { approvals: 1, ttl: 60 }\n", "wrong-type"],
    ["a ttl with units out of order", "    match: {}\n    require: { approvals: 1, ttl: 30m1h }\n", "bad-duration"],
    ["a rule with nothing but a name", "", "rule-effect"],
    ["a preview without a command", "    match: {}\n    require: { approvals: 1, preview: { recheck: true } }\n", "missing-field"],
    ["a misspelled preview field", '    match: {}\n    require: { approvals: 1, preview: { command: ["{program}"], recheck: true, timout: 5s } }\n', "unknown-field"],
    ["an empty preview command", "    match: {}\n    require: { approvals: 1, preview: { command: [] } }\n", "empty-list"],
    ["a preview timeout over ten minutes", '    match: {}\n    require: { approvals: 1, preview: { command: ["x"], timeout: 11m } }\n', "out-of-range"],
    ["a preview recheck that is not a bool", '    match: {}\n    require: { approvals: 1, preview: { command: ["x"], recheck: "yes" } }\n', "wrong-type"],
  ])("%s is refused", (_name, body, code) => {
    expect(ruleErrors(body)).toContain(code);
  });

  it("a preview: defaults (recheck false, timeout 30s), carried into the requirement", () => {
    const r = withRule('    match: {}\n    require: { approvals: 1, preview: { command: ["{program}", "--dry-run", "{args}"] } }\n');
    expect(errors(r)).toEqual([]);
    expect(r.policy?.rules[0]?.effect).toMatchObject({ preview: { command: ["{program}", "--dry-run", "{args}"], recheck: false, timeoutSeconds: 30 } });
  });

  it("a misspelled preview field is an error with file:line:col", () => {
    const r = withRule('    match: {}\n    require:\n      approvals: 1\n      preview:\n        command: ["x"]\n        rechek: true\n');
    expect(located(errors(r))).toEqual(["unknown-field@9:9"]);
  });

  it("ttl bounds are inclusive: 1m and 7d are accepted", () => {
    expect(errors(withRule("    match: {}\n    require: { approvals: 1, ttl: 1m }\n"))).toEqual([]);
    expect(withRule("    match: {}\n    require: { approvals: 1, ttl: 7d }\n").policy?.rules[0]?.effect).toMatchObject({ ttlSeconds: 604_800 });
  });
});

describe("freezes", () => {
  const freeze = (from: string, until: string) => parseOne(`${VALID}freezes:\n  - name: f\n    environments: [production]\n    from: ${from}\n    until: ${until}\n    reason: r\n`);
  it.each([
    ["until before from", "2027-01-02T00:00:00Z", "2026-12-23T00:00:00Z", "freeze-range"],
    ["until equal to from", "2027-01-02T00:00:00Z", "2027-01-02T00:00:00Z", "freeze-range"],
    ["a date without a time", "2026-12-23", "2027-01-02T00:00:00Z", "bad-timestamp"],
    ["a time without a zone", "2026-12-23T00:00:00", "2027-01-02T00:00:00Z", "bad-timestamp"],
    ["an impossible date", "2026-02-30T00:00:00Z", "2027-01-02T00:00:00Z", "bad-timestamp"],
    ["a number", "20261223", "2027-01-02T00:00:00Z", "wrong-type"],
  ])("%s is refused", (_name, from, until, code) => {
    expect(codes(errors(freeze(from, until)))).toEqual([code]);
  });

  it("a freeze needs a name, environments, times and a reason", () => {
    const r = parseOne(`${VALID}freezes:\n  - name: f\n    environments: [production]\n`);
    expect(codes(errors(r))).toEqual(["missing-field", "missing-field", "missing-field"]);
  });
});

describe("bind_env", () => {
  it.each([["*"], ["**"], ["VAULT-TOKEN"], [""]])("%j is refused", (entry) => {
    expect(errors(parseOne(`${VALID}bind_env: ["${entry}"]\n`)).length).toBeGreaterThan(0);
  });
});

describe("diagnostics", () => {
  it("are collected from every file, sorted by file, line and column, without duplicates", () => {
    const r = parse({
      "policies/b.yaml": "version: 1\nrules:\n  - name: x\n    match: { environments: [nowhere] }\n    allow: maybe\n",
      "policies/a.yaml": VALID.replace("protected: true", "protected: yes").replace("aliases: [stg]", "aliasses: [stg]"),
    });
    expect(r.diagnostics.map((d) => `${d.file}:${d.line}:${d.col}:${d.code}`)).toEqual([
      "policies/a.yaml:4:16:wrong-type",
      "policies/a.yaml:10:5:unknown-field",
      "policies/b.yaml:4:29:undefined-environment",
      "policies/b.yaml:5:12:wrong-type",
    ]);
    for (const d of r.diagnostics) expect(d.hint, d.code).toBeTruthy();
  });

  it("stop at 100 per file, with a final note", () => {
    const many = `version: 1\n${Array.from({ length: 150 }, (_, i) => `x${i}: 1`).join("\n")}\n`;
    const r = parse({ "policies/a.yaml": VALID, "policies/b.yaml": many });
    const inB = r.diagnostics.filter((d) => d.file === "policies/b.yaml");
    expect(inB.length).toBe(101);
    expect(inB.some((d) => d.code === "too-many-problems")).toBe(true);
  });
});

describe("identity probes (E22)", () => {
  const withIdentity = (yaml: string) => parseOne(VALID.replace('        matches: "*prod-db.*"\n', `        matches: "*prod-db.*"\n    identity:\n${yaml}`));
  it("are read with their defaults", () => {
    const r = withIdentity('      - command: [sh, -c, "psql -XAtc \'show guard.environment\'"]\n        equals: elb-prod-7f3a\n');
    expect(errors(r)).toEqual([]);
    expect(r.policy!.environments.production!.identity).toEqual([
      expect.objectContaining({ command: ["sh", "-c", "psql -XAtc 'show guard.environment'"], matcher: { kind: "equals", value: "elb-prod-7f3a" }, timeoutSeconds: 5 }),
    ]);
  });
  it.each([
    ['      - command: [x]\n', "probe-matcher"],
    ['      - command: [x]\n        equals: a\n        matches: "b*"\n', "probe-matcher"],
    ['      - command: []\n        equals: a\n', "bad-probe"],
    ['      - equals: a\n', "missing-field"],
    ['      - command: [x]\n        equals: a\n        timeout: 2m\n', "out-of-range"],
    ['      - command: [x]\n        equals: a\n        timout: 5s\n', "unknown-field"],
  ])("%j is refused (%s)", (yaml, code) => {
    expect(codes(errors(withIdentity(yaml)))).toContain(code);
  });
});

describe("lint warnings (the policy is still valid)", () => {
  it("a rule fully shadowed by an earlier deny", () => {
    const r = parseOne(VALID.replace("rules:\n", 'rules:\n  - name: no-purge-in-prod\n    match: { environments: [production], commands: ["maintenance/purge-*.sh"] }\n    deny: "not now"\n'));
    expect(r.policy).toBeDefined();
    expect(located(warnings(r))).toEqual(["shadowed-rule@28:11"]);
    expect(warnings(r)[0]!.message).toContain("no-purge-in-prod");
  });

  it("a deny that matches fewer runs does not shadow", () => {
    const r = parseOne(VALID.replace("rules:\n", 'rules:\n  - name: no-purge-all\n    match: { environments: [production], commands: ["maintenance/purge-*.sh"], args: ["--all"] }\n    deny: "not all at once"\n'));
    expect(warnings(r)).toEqual([]);
  });

  it("a threshold equal to the whole eligible group", () => {
    const r = parseOne(VALID.replace("approvals: 1", "approvals: 2"));
    expect(located(warnings(r))).toEqual(["approvals-whole-group@30:18"]);
    expect(warnings(r)[0]!.message).toContain("alice, bob");
  });

  it("a policy of one person (as `guard init` writes it) is not warned about rule by rule", () => {
    const solo = VALID.replace(/ {2}bob:\n.*\n.*\n {2}carol:\n.*\n.*\n/, "");
    const r = parseOne(solo);
    expect(Object.keys(r.policy!.principals)).toEqual(["alice"]);
    expect(warnings(r)).toEqual([]);
  });

  it.each([
    ['      - env: DATABASE_URL\n        matches: "postgres://prod-db*"\n', "requires the scheme postgres://"],
    ['      - env: DATABASE_URL\n        matches: "postgresql://*prod-db*"\n', "requires the scheme postgresql://"],
    ['      - env: DATABASE_URL\n        matches: "postgres*://*@prod-db*"\n', "requires a user part"],
    ['      - env: DATABASE_URL\n        equals: "postgres://prod-db.internal/elb"\n', "equals the URL"],
    ['      - argument: "postgres://prod-db*"\n', "requires the scheme postgres://"],
  ])("a detector glob that misses other spellings of the same server: %j", (detector, message) => {
    const r = withDetector(detector);
    expect(codes(warnings(r))).toEqual(["detector-misses-spellings"]);
    expect(warnings(r)[0]!.message).toContain(message);
  });

  it.each(['      - env: DATABASE_URL\n        matches: "*prod-db.*"\n', '      - env: AWS_PROFILE\n        equals: "prod@admin"\n', '      - env: VAULT_ADDR\n        matches: "https://vault.prod*"\n'])(
    "a detector that names the server (or is no connection) is fine: %j",
    (detector) => {
      expect(warnings(withDetector(detector))).toEqual([]);
    },
  );

  it("an allow whose args are bare words only tests for their presence", () => {
    const r = withAllow('  - name: logs-are-read-only\n    match: { commands: ["kubectl"], args: ["logs"] }\n    allow: true\n');
    expect(codes(warnings(r))).toEqual(["args-presence-only"]);
    expect(warnings(r)[0]!.message).toContain("kubectl -n logs exec");
    const flags = withAllow('  - name: dry-runs\n    match: { commands: ["kubectl"], args: ["--dry-run=client"] }\n    allow: true\n');
    expect(warnings(flags)).toEqual([]);
    const deny = withAllow('  - name: no-exec\n    match: { commands: ["kubectl"], args: ["exec"] }\n    deny: "no"\n');
    expect(warnings(deny)).toEqual([]);
  });

  it("a protected environment with no detectors", () => {
    const r = parseOne(VALID.replace('    detect:\n      - env: DATABASE_URL\n        matches: "*prod-db.*"\n', ""));
    expect(located(warnings(r))).toEqual(["protected-undetectable@3:3"]);
  });
});

describe("policy test files", () => {
  const suite = (body: string) => parse({ "policies/guard.yaml": VALID, "policies/guard.test.yaml": body });

  it("are read into cases, with the file's `now` as the default", () => {
    const r = suite(`now: 2026-06-01T00:00:00Z
tests:
  - name: purge in prod
    run: [maintenance/purge-lb-state.sh, --all]
    env: { DATABASE_URL: "postgres://prod-db.internal/x" }
    host: db1.example.com
    kube_context: prod-1
    declared_env: production
    expect: { decision: approval, environment: production, rules: [purge-needs-an-sre], reasons_contain: [x] }
  - name: at another time
    run: [ls]
    now: 2026-12-24T00:00:00+01:00
    expect: { decision: allow, rules: [] }
`);
    expect(r.diagnostics).toEqual([]);
    expect(r.tests).toEqual([
      {
        name: "purge in prod",
        run: ["maintenance/purge-lb-state.sh", "--all"],
        env: { DATABASE_URL: "postgres://prod-db.internal/x" },
        host: "db1.example.com",
        kubeContext: "prod-1",
        declaredEnv: "production",
        now: Date.UTC(2026, 5, 1),
        expect: { decision: "approval", environment: "production", rules: ["purge-needs-an-sre"], reasonsContain: ["x"] },
        at: { file: "policies/guard.test.yaml", line: 3, col: 11 },
      },
      { name: "at another time", run: ["ls"], env: {}, now: Date.UTC(2026, 11, 23, 23), expect: { decision: "allow", rules: [] }, at: { file: "policies/guard.test.yaml", line: 10, col: 11 } },
    ]);
  });

  it.each([
    ["an unknown field", "tests:\n  - name: t\n    run: [x]\n    expekt: { decision: deny }\n", "unknown-field"],
    ["a bad decision", "tests:\n  - name: t\n    run: [x]\n    expect: { decision: denied }\n", "bad-decision"],
    ["an empty run", "tests:\n  - name: t\n    run: []\n    expect: { decision: deny }\n", "empty-list"],
    ["a number as a variable value", "tests:\n  - name: t\n    run: [x]\n    env: { PORT: 5432 }\n    expect: { decision: deny }\n", "wrong-type"],
    ["two tests with one name", "tests:\n  - { name: t, run: [x], expect: { decision: deny } }\n  - { name: t, run: [y], expect: { decision: deny } }\n", "duplicate-test"],
    ["no tests", "tests: []\n", "empty-list"],
    ["an anchor", "tests:\n  - &t { name: t, run: [x], expect: { decision: deny } }\n", "anchor"],
  ])("%s is an error, and makes the directory invalid", (_name, body, code) => {
    const r = suite(body);
    expect(codes(errors(r))).toContain(code);
    expect(r.policy).toBeUndefined();
  });

  it("expectations naming unknown rules or environments are warnings", () => {
    const r = suite("tests:\n  - { name: t, run: [x], expect: { decision: deny, environment: prodution, rules: [purge] } }\n");
    expect(r.policy).toBeDefined();
    expect(codes(warnings(r))).toEqual(["test-unknown-environment", "test-unknown-rule"]);
  });
});
