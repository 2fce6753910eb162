import { describe, expect, it } from "vitest";
import { DECLARED_ENV_PROBLEM, declaredEnvProblem, detectTarget, redactValue } from "../../src/core/detect.js";
import { detectionFiles } from "../../src/core/detectors/registry.js";
import type { Detection, DetectionInput, Policy } from "../../src/core/types.js";
import { fixturePolicy, input } from "./policy-fixture.js";

const policy = fixturePolicy();
const detect = (over: Partial<DetectionInput>, p: Policy = policy): Detection => detectTarget(p, input(over));

describe("detectTarget: single sources", () => {
  it.each([
    ["DATABASE_URL glob", { env: { DATABASE_URL: "postgres://app@prod-db.internal/elb" } }, "production"],
    ["DATABASE_URL glob is case-insensitive", { env: { DATABASE_URL: "postgres://app@PROD-DB.internal/elb" } }, "production"],
    ["DATABASE_URL staging", { env: { DATABASE_URL: "postgres://app@staging-db.internal/elb" } }, "staging"],
    ["PGHOST", { env: { PGHOST: "prod-db-replica" } }, "production"],
    ["AWS_PROFILE equals", { env: { AWS_PROFILE: "prod" } }, "production"],
    ["regex", { env: { VAULT_ADDR: "https://vault.prod.example.com" } }, "production"],
    ["kube context", { kubeconfigs: [{ path: "/k", currentContext: "prod-eu-1" }] }, "production"],
    ["host", { host: "DB1.example.com" }, "production"],
    ["--env=prod in args", { args: ["--env=prod"] }, "production"],
    ["--env stg in args", { args: ["migrate", "--env", "stg"] }, "staging"],
    ["-e prd in args", { args: ["-e", "prd"] }, "production"],
    ["-e=live in args", { args: ["-e=live"] }, "production"],
    ["--profile with matcher", { args: ["--profile", "staging"] }, "staging"],
    ["argument glob", { args: ["-c", "host=prod-db.internal dbname=elb"] }, "production"],
    ["declared alone", { declared: "PRD" }, "production"],
    ["a variable no detector reads is not evidence", { env: { UNWATCHED_URL: "postgres://prod-db.internal/x" } }, "development"],
  ] as const)("%s → %s", (_name, over, env) => {
    const d = detect(over as Partial<DetectionInput>);
    expect(d.problems).toEqual([]);
    expect(d.environment).toBe(env);
  });

  it("nothing detected and no --env: the default_environment, with evidence saying so", () => {
    const d = detect({});
    expect(d.environment).toBe("development");
    expect(d.evidence).toEqual([expect.objectContaining({ source: "default", environment: "development" })]);
  });

  it("nothing detected and no default_environment: undetermined", () => {
    const d = detect({}, fixturePolicy({ defaultEnvironment: undefined }));
    expect(d.environment).toBeNull();
    expect(d.problems).toEqual([expect.stringContaining("target undetermined")]);
  });

  it("agreeing sources determine the target and are all listed", () => {
    const d = detect({
      declared: "production",
      env: { DATABASE_URL: "postgres://prod-db.internal/elb", AWS_PROFILE: "prod" },
      kubeconfigs: [{ path: "/k", currentContext: "prod-eu" }],
    });
    expect(d.environment).toBe("production");
    expect(d.evidence.map((e) => [e.source, e.subject])).toEqual([
      ["declared", "--env"],
      ["env", "DATABASE_URL"],
      ["env", "AWS_PROFILE"],
      ["kube_context", "/k"],
    ]);
  });
});

describe("SECURITY E1: values that match only after normalising are ambiguous", () => {
  it.each([
    ["AWS_PROFILE=Prod", { AWS_PROFILE: "Prod" }, "AWS_PROFILE"],
    ['AWS_PROFILE=" prod"', { AWS_PROFILE: " prod" }, "AWS_PROFILE"],
    ["AWS_PROFILE=prod\\n", { AWS_PROFILE: "prod\n" }, "AWS_PROFILE"],
    ["AWS_PROFILE=PROD", { AWS_PROFILE: "PROD" }, "AWS_PROFILE"],
    ["AWS_PROFILE with a Cyrillic о", { AWS_PROFILE: "pr\u043Ed" }, "AWS_PROFILE"],
    ["AWS_PROFILE with a zero-width space", { AWS_PROFILE: "\u200Bprod" }, "AWS_PROFILE"],
    ["PGHOST with a leading space", { PGHOST: " prod-db" }, "PGHOST"],
    ["regex only after trimming", { VAULT_ADDR: "\thttps://vault.prod.x" }, "VAULT_ADDR"],
  ])("E1: %s → refused, never normalised to a safe value", (_name, env, variable) => {
    const d = detect({ env });
    expect(d.environment).toBeNull();
    expect(d.evidence).toEqual([expect.objectContaining({ source: "env", subject: variable, environment: null })]);
    expect(d.problems).toHaveLength(1);
    expect(d.problems[0]).toContain(variable);
    expect(d.problems[0]).toMatch(/set it exactly or unset it/);
  });

  it('E1: AWS_PROFILE="" is refused too (the SDK would fall back to its default profile)', () => {
    const d = detect({ env: { AWS_PROFILE: "" } });
    expect(d.environment).toBeNull();
    expect(d.problems).toEqual([expect.stringContaining("AWS_PROFILE is set but empty")]);
  });

  it("E1: the ambiguity is shown escaped, so the newline is visible", () => {
    const d = detect({ env: { AWS_PROFILE: "prod\n" } });
    expect(d.problems[0]).toContain('AWS_PROFILE="prod\\n"');
  });

  it("E1: an ambiguous value is refused even when other evidence is clear", () => {
    const d = detect({ env: { AWS_PROFILE: "Prod", DATABASE_URL: "postgres://prod-db.internal/x" } });
    expect(d.environment).toBeNull();
  });

  it("E1: a value that simply matches nothing is not called ambiguous, but it is unrecognised: undetermined, never the default", () => {
    const d = detect({ env: { AWS_PROFILE: "sandbox" } });
    expect(d.environment).toBeNull();
    expect(d.problems).toEqual([expect.stringMatching(/^target undetermined: AWS_PROFILE="sandbox" is set, but no environment's detector recognises it/)]);
    expect(d.problems.join()).not.toContain("differently");
  });
});

describe("SECURITY E2/E3/E4: --env and flags in the command", () => {
  it("E2: an invalid declared --env is a usage problem the CLI can recognise", () => {
    const problem = declaredEnvProblem(policy, "pr\u043Ed");
    expect(problem).toMatch(new RegExp(`^${DECLARED_ENV_PROBLEM}: `));
    expect(problem).toContain("U+043E CYRILLIC SMALL LETTER O");
    const d = detect({ declared: "pr\u043Ed" });
    expect(d.environment).toBeNull();
    expect(d.problems).toEqual([problem]);
  });

  it("E2: declaredEnvProblem is null for valid names and aliases", () => {
    expect(declaredEnvProblem(policy, "PRODUCTION")).toBeNull();
    expect(declaredEnvProblem(policy, "stg")).toBeNull();
  });

  it("E3: --env=prod, --env prod and -e prod are identical", () => {
    const forms = [["--env=prod"], ["--env", "prod"], ["-e", "prod"]].map((args) => detect({ args }));
    for (const d of forms) {
      expect(d.environment).toBe("production");
      expect(d.evidence).toHaveLength(1);
      expect(d.evidence[0]).toMatchObject({ source: "arg", value: "prod", environment: "production" });
    }
  });

  it.each([
    ["empty --env=", ["--env="], "flag --env has an empty value"],
    ["--env as the last argument", ["run", "--env"], "flag --env is the last argument and has no value"],
    ["two conflicting --env", ["--env=prod", "--env", "staging"], "flag --env is given more than once with different values"],
    ["a value naming no environment", ["--env", "qa"], 'flag --env has value "qa" which names no environment'],
    ["a look-alike value", ["--env=pr\u043Ed"], "U+043E CYRILLIC SMALL LETTER O"],
  ])("E3: %s is refused", (_name, args, problem) => {
    const d = detect({ args });
    expect(d.environment).toBeNull();
    expect(d.problems.join("\n")).toContain(problem);
  });

  it("E3: the same value twice is fine", () => {
    expect(detect({ args: ["--env=prod", "--env", "prod"] }).environment).toBe("production");
  });

  it("E3: arguments after a bare -- are still scanned", () => {
    expect(detect({ args: ["--", "--env=prod"] }).environment).toBe("production");
  });

  it("E4: aliases and case resolve to the canonical name", () => {
    for (const v of ["prd", "production", "PRODUCTION", "Live"]) {
      expect(detect({ args: [`--env=${v}`] }).environment).toBe("production");
      expect(detect({ declared: v }).environment).toBe("production");
    }
  });
});

describe("SECURITY E5/E11: disagreement is a refusal listing all evidence", () => {
  it("E5: --env staging but AWS_PROFILE says production", () => {
    const d = detect({ declared: "staging", env: { AWS_PROFILE: "prod" } });
    expect(d.environment).toBeNull();
    expect(d.problems).toEqual([expect.stringContaining("conflicting target: --env says staging, but AWS_PROFILE says production")]);
  });

  it("E5: --env staging but the kube context says production", () => {
    const d = detect({ declared: "stg", kubeconfigs: [{ path: "/k", currentContext: "prod-eu" }] });
    expect(d.environment).toBeNull();
    expect(d.problems[0]).toContain('--env says staging, but kube context "prod-eu" says production');
  });

  it("E11: DATABASE_URL staging, PGHOST production", () => {
    const d = detect({ env: { DATABASE_URL: "postgres://staging-db.internal/x", PGHOST: "prod-db" } });
    expect(d.environment).toBeNull();
    expect(d.problems).toEqual(["conflicting target: PGHOST says production, but DATABASE_URL says staging; make them agree and run again"]);
  });

  it("E5/E11: every piece of evidence is named in the conflict", () => {
    const d = detect({
      declared: "staging",
      env: { DATABASE_URL: "postgres://staging-db.internal/x", PGHOST: "prod-db", AWS_PROFILE: "prod" },
      host: "db1.example.com",
    });
    expect(d.problems[0]).toContain(
      'conflicting target: --env and DATABASE_URL say staging, but PGHOST and AWS_PROFILE and host name "db1.example.com" say production',
    );
    expect(d.evidence).toHaveLength(5);
  });

  it("E5: a flag in the command never overrides detection either", () => {
    const d = detect({ args: ["--env=staging"], env: { DATABASE_URL: "postgres://prod-db.internal/x" } });
    expect(d.environment).toBeNull();
    expect(d.problems[0]).toContain("conflicting target");
  });
});

describe("SECURITY E6: AWS credential variables override profiles", () => {
  it("E6: AWS_PROFILE=staging with AWS_ACCESS_KEY_ID set: undetermined, the profile does not decide", () => {
    const d = detect({ env: { AWS_PROFILE: "staging", AWS_ACCESS_KEY_ID: "AKIAEXAMPLE", AWS_SECRET_ACCESS_KEY: "s3cr3t" } });
    expect(d.environment).toBeNull();
    expect(d.problems).toEqual([
      'AWS credential variables are set (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY); they override AWS_PROFILE="staging"; add a detector for AWS_ACCESS_KEY_ID or unset them',
    ]);
    expect(d.evidence).toEqual([
      expect.objectContaining({ subject: "AWS_PROFILE", environment: null, detail: expect.stringContaining("use credential variables first: not used") }),
    ]);
  });

  it("E6: AWS_SESSION_TOKEN alone also overrides", () => {
    const d = detect({ env: { AWS_DEFAULT_PROFILE: "prod", AWS_SESSION_TOKEN: "tok" } });
    expect(d.environment).toBeNull();
    expect(d.problems[0]).toContain('they override AWS_DEFAULT_PROFILE="prod"');
  });

  it("E6: credential variables with no profile set, in a policy that classifies AWS by profile: undetermined", () => {
    const d = detect({ env: { AWS_ACCESS_KEY_ID: "AKIAEXAMPLE" } });
    expect(d.environment).toBeNull();
    expect(d.problems[0]).toContain("the policy identifies AWS targets by profile");
  });

  it("E6: when something else identifies the target, the overridden profile is recorded but does not block", () => {
    const d = detect({ env: { AWS_PROFILE: "prod", AWS_ACCESS_KEY_ID: "AKIAEXAMPLE", DATABASE_URL: "postgres://staging-db.internal/x" } });
    expect(d.environment).toBe("staging");
    expect(d.evidence.find((e) => e.subject === "AWS_PROFILE")?.environment).toBeNull();
  });

  it("E6: a detector on AWS_ACCESS_KEY_ID classifies the credentials", () => {
    const p = fixturePolicy();
    p.environments.production?.detect.push({ type: "env", variable: "AWS_ACCESS_KEY_ID", matcher: { kind: "equals", value: "AKIAPROD" } });
    const d = detectTarget(p, input({ env: { AWS_PROFILE: "staging", AWS_ACCESS_KEY_ID: "AKIAPROD" } }));
    expect(d.environment).toBe("production");
    expect(d.evidence.find((e) => e.subject === "AWS_ACCESS_KEY_ID")?.value).toBe("(set, 8 chars)");
  });

  it("E6: credential variables are irrelevant to a policy that does not look at AWS profiles", () => {
    const p = fixturePolicy();
    for (const env of Object.values(p.environments)) env.detect = env.detect.filter((d) => d.type !== "env" || !d.variable.includes("PROFILE"));
    expect(detectTarget(p, input({ env: { AWS_ACCESS_KEY_ID: "AKIA" } })).environment).toBe("development");
  });
});

describe("SECURITY E7: parameters in argv are detected", () => {
  it.each([
    ["./x.sh --profile prod", ["--profile", "prod"], "production"],
    ["kubectl --context prod-eu", ["get", "pods", "--context", "prod-eu"], "production"],
    ['psql "host=prod-db"', ["host=prod-db dbname=x"], "production"],
  ])("E7: %s", (_name, args, env) => {
    expect(detect({ args }).environment).toBe(env);
  });

  it("E7: --context in argv beats the kubeconfig's current-context, and disagreement is a conflict", () => {
    const d = detect({
      args: ["--context=prod-eu"],
      kubeconfigs: [{ path: "/k", currentContext: "staging-1" }],
      env: { DATABASE_URL: "postgres://staging-db.internal/x" },
    });
    expect(d.environment).toBeNull();
    expect(d.evidence.find((e) => e.source === "kube_context")).toMatchObject({ subject: "--context", environment: "production" });
  });

  it("E7: an argument pointing at prod while the environment says staging is a conflict", () => {
    const d = detect({ args: ["host=prod-db.internal"], env: { PGHOST: "staging-db" } });
    expect(d.problems[0]).toContain("conflicting target");
  });
});

describe("SECURITY E8: kubeconfig order", () => {
  it("E8: the first file's current-context wins", () => {
    const d = detect({
      kubeconfigs: [
        { path: "staging.yaml", currentContext: "staging-eu" },
        { path: "/home/u/.kube/config", currentContext: "prod-eu" },
      ],
    });
    expect(d.environment).toBe("staging");
  });

  it("E8: an unreadable kubeconfig fails closed", () => {
    const d = detect({ kubeconfigs: [{ path: "/k/bad", error: "invalid YAML: x" }] });
    expect(d.environment).toBeNull();
    expect(d.problems[0]).toContain("/k/bad: invalid YAML: x");
  });

  it("E8: a context that matches no detector makes the target undetermined (E18), never the default", () => {
    const d = detect({ kubeconfigs: [{ path: "/k", currentContext: "someone-elses" }] });
    expect(d.environment).toBeNull();
    expect(d.problems).toEqual([expect.stringContaining('kube context "someone-elses" (from /k) is set, but no environment\'s detector recognises it')]);
  });
});

describe("redaction", () => {
  it.each([
    ["DATABASE_URL", "postgres://app:hunter2@prod-db.internal/elb", "postgres://app:***@prod-db.internal/elb"],
    ["DATABASE_URL", "postgres://app:p@ss@prod-db.internal/elb", "postgres://app:***@prod-db.internal/elb"],
    ["DATABASE_URL", "postgres://app@prod-db.internal/elb", "postgres://app@prod-db.internal/elb"],
    ["PGOPTS", "host=prod-db password=hunter2 dbname=x", "host=prod-db password=*** dbname=x"],
    ["PGOPTS", "host=prod-db password='a b' dbname=x", "host=prod-db password=*** dbname=x"],
    ["URL", "https://x/?token=abc&y=1", "https://x/?token=***&y=1"],
    ["AWS_SECRET_ACCESS_KEY", "abcd", "(set, 4 chars)"],
    ["GITHUB_TOKEN", "ghp_x", "(set, 5 chars)"],
    ["DB_PASSWORD", "pw", "(set, 2 chars)"],
    ["SSH_KEY_PATH", "/x", "(set, 2 chars)"],
    ["AWS_PROFILE", "prod", "prod"],
    ["AWS_REGION", "eu-west-1", "eu-west-1"],
  ])("%s=%j shows %j", (name, value, shown) => {
    expect(redactValue(name, value)).toBe(shown);
  });

  it("evidence never carries the password", () => {
    const d = detect({ env: { DATABASE_URL: "postgres://app:hunter2@prod-db.internal/elb" } });
    expect(JSON.stringify(d)).not.toContain("hunter2");
    expect(d.evidence[0]?.value).toBe("postgres://app:***@prod-db.internal/elb");
  });

  it("an ambiguous secret value is not echoed in the problem", () => {
    const p = fixturePolicy();
    p.environments.production?.detect.push({ type: "env", variable: "DEPLOY_TOKEN", matcher: { kind: "equals", value: "prod-token" } });
    const d = detectTarget(p, input({ env: { DEPLOY_TOKEN: "PROD-TOKEN" } }));
    expect(d.environment).toBeNull();
    expect(JSON.stringify(d)).not.toContain("PROD-TOKEN");
  });
});

describe("determinism and robustness", () => {
  it("evidence follows environment declaration order, then detector order", () => {
    const d = detect({
      env: { PGHOST: "staging-db", DATABASE_URL: "postgres://prod-db.internal/x", AWS_PROFILE: "staging" },
      host: "db1.x",
    });
    expect(d.evidence.map((e) => `${e.environment}:${e.subject}`)).toEqual([
      "production:DATABASE_URL",
      "production:hostname",
      "staging:PGHOST",
      "staging:AWS_PROFILE",
    ]);
  });

  it("the same input always gives the same detection", () => {
    const over = { declared: "prod", env: { DATABASE_URL: "postgres://staging-db.x/y" }, args: ["--env=prod"] };
    expect(detect(over)).toEqual(detect(over));
  });

  it("an invalid regex in a policy fails closed instead of throwing", () => {
    const p = fixturePolicy();
    p.environments.production?.detect.push({ type: "env", variable: "X", matcher: { kind: "regex", pattern: "([" } });
    const d = detectTarget(p, input({ env: { X: "anything" } }));
    expect(d.environment).toBeNull();
    expect(d.problems[0]).toMatch(/regex .* is invalid/);
  });

  it("a backtracking-prone regex runs in linear time (RE2): ^(a|a)*$ against 100,000 a's and a b does not hang", () => {
    const p = fixturePolicy();
    p.environments.production?.detect.push({ type: "env", variable: "X", matcher: { kind: "regex", pattern: "^(a|a)*$" } });
    expect(detectTarget(p, input({ env: { X: `${"a".repeat(100_000)}b` } })).environment).not.toBe("production");
    expect(detectTarget(p, input({ env: { X: "aaaa" } })).environment).toBe("production");
  }, 10_000);

  it("a policy with a regex but no engine given fails closed (never falls back to a backtracking RegExp)", () => {
    const p = fixturePolicy();
    p.environments.production?.detect.push({ type: "env", variable: "X", matcher: { kind: "regex", pattern: "^a$" } });
    const d = detectTarget(p, input({ env: { X: "a" }, regex: undefined }));
    expect(d.environment).toBeNull();
    expect(d.problems[0]).toMatch(/no regex engine/);
  });

  it("a default_environment that the policy does not define is not used", () => {
    const d = detect({}, fixturePolicy({ defaultEnvironment: "nowhere" }));
    expect(d.environment).toBeNull();
    expect(d.problems[0]).toContain("target undetermined");
  });
});

describe("detectionFiles: the kubeconfigs", () => {
  it("are read only when some environment has a kube_context detector", () => {
    expect(detectionFiles(fixturePolicy(), [], {}, "/home/u").kubeconfigs).toEqual(["/home/u/.kube/config"]);
    const p = fixturePolicy();
    for (const env of Object.values(p.environments)) env.detect = env.detect.filter((d) => d.type !== "kube_context");
    expect(detectionFiles(p, [], {}, "/home/u").kubeconfigs).toBeUndefined();
  });
});
