import { describe, expect, it } from "vitest";
import { CUT_MARK, MAY_VARY, SHOWN_MAX, bindVariable, boundEnvironment, childEnvironment, envGlobMatches, isNameOnly, redactValue } from "../../src/core/bind-env.js";
import { sha256Hex } from "../../src/core/canonical.js";
import { compareBinding, type RunBinding } from "../../src/core/request.js";
import type { GuardRequest } from "../../src/core/types.js";

const policy = (bindEnv: string[] = []) => ({ bindEnv });

describe("boundEnvironment", () => {
  it("C11: sensitive fixed names are bound even when unset, so a value at run time is a difference", () => {
    const bound = boundEnvironment(policy(), {}, []);
    for (const name of ["PATH", "HOME", "PSQLRC", "NODE_OPTIONS", "BASH_ENV", "PGOPTIONS", "DATABASE_URL", "KUBECONFIG", "PS4", "IFS", "PYTHONPATH", "XDG_CONFIG_HOME", "HTTPS_PROXY"]) {
      expect(bound[name]).toEqual({ sha256: null, shown: null });
    }
  });

  it.each([
    ["C11: LD_PRELOAD", "LD_PRELOAD", "/tmp/evil.so"],
    ["DYLD_INSERT_LIBRARIES", "DYLD_INSERT_LIBRARIES", "/tmp/evil.dylib"],
    ["E13: an exported bash function", "BASH_FUNC_echo%%", "() {  echo pwned\n}"],
    ["E14: PYTHONWARNINGS", "PYTHONWARNINGS", "error"],
    ["E14: NODE_EXTRA_CA_CERTS", "NODE_EXTRA_CA_CERTS", "/tmp/mitm.pem"],
    ["E14: GIT_SSH_COMMAND", "GIT_SSH_COMMAND", "ssh -o ProxyCommand=evil"],
    ["E12: AWS_PROFILE", "AWS_PROFILE", "prod-admin"],
    ["PG glob: PGSSLMODE", "PGSSLMODE", "disable"],
    ["CLOUDSDK_*", "CLOUDSDK_CORE_PROJECT", "prod"],
    ["AZURE_*", "AZURE_SUBSCRIPTION_ID", "sub"],
    ["ARM_*", "ARM_CLIENT_ID", "id"],
    ["TF_VAR_*", "TF_VAR_region", "us-east-1"],
    ["TF_WORKSPACE", "TF_WORKSPACE", "prod"],
    ["VAULT_ADDR", "VAULT_ADDR", "https://vault"],
    ["KUBE*", "KUBE_CONTEXT", "prod"],
  ])("%s is consequential: bound with its value shown", (_name, name, value) => {
    const bound = boundEnvironment(policy(), { [name]: value, UNRELATED: "x" }, []);
    expect(bound[name]).toEqual({ sha256: sha256Hex(value), shown: value });
  });

  it("E15: every other variable of the invocation is bound by name and digest, its value not shown", () => {
    const bound = boundEnvironment(policy(), { UNRELATED: "x", USER: "alice", LANG: "C.UTF-8" }, []);
    expect(bound.UNRELATED).toEqual({ sha256: sha256Hex("x"), shown: null });
    expect(bound.USER).toEqual({ sha256: sha256Hex("alice"), shown: null });
    expect(isNameOnly(bound.LANG!)).toBe(true);
    expect(isNameOnly(boundEnvironment(policy(), { HOME: "/home/a" }, []).HOME!)).toBe(false);
  });

  it("E16: the variables allowed to vary, and PWD/OLDPWD/_/SUDO_COMMAND, are not bound; each variable that may vary says why", () => {
    const env = { TERM: "xterm", COLUMNS: "80", LINES: "24", SSH_AUTH_SOCK: "/tmp/ssh-x/agent.1", TMUX: "/tmp/tmux-1000/default,1,0", SHLVL: "2", GITHUB_RUN_ATTEMPT: "2", PWD: "/elsewhere", OLDPWD: "/tmp", _: "/usr/bin/guard", SUDO_COMMAND: "/usr/local/bin/guard run --request r-x" };
    const bound = boundEnvironment(policy(), env, []);
    for (const name of Object.keys(env)) expect(bound[name], name).toBeUndefined();
    for (const [name, why] of Object.entries(MAY_VARY)) expect(why.length, name).toBeGreaterThan(10);
  });

  it("E16: nothing that decides what code runs or where it connects may vary", () => {
    for (const name of ["HOME", "PATH", "LD_PRELOAD", "BASH_FUNC_x%%", "PSQLRC", "PYTHONPATH", "NODE_OPTIONS", "PGHOST", "AWS_PROFILE", "KUBECONFIG", "TERMINFO", "HTTPS_PROXY", "SSL_CERT_FILE", "XDG_CONFIG_HOME", "GIT_CONFIG_GLOBAL", "ACTIONS_ID_TOKEN_REQUEST_URL"]) {
      expect(Object.hasOwn(MAY_VARY, name), name).toBe(false);
      expect(boundEnvironment(policy(), { [name]: "v" }, [])[name]?.sha256, name).toBe(sha256Hex("v"));
    }
  });

  it("a policy's bind_env or a detector binds a variable that would otherwise vary, with its value shown", () => {
    const bound = boundEnvironment(policy(["TERM"]), { TERM: "xterm", SHLVL: "3" }, ["SHLVL"]);
    expect(bound.TERM).toEqual({ sha256: sha256Hex("xterm"), shown: "xterm" });
    expect(bound.SHLVL).toEqual({ sha256: sha256Hex("3"), shown: "3" });
  });

  it("detector variables and policy bind_env names are bound, unset ones as unset", () => {
    const bound = boundEnvironment(policy(["DEPLOY_TARGET", "MYAPP_*"]), { MYAPP_DB: "x", MYAPP: "not matched" }, ["SERVICE_ENV"]);
    expect(bound.SERVICE_ENV).toEqual({ sha256: null, shown: null });
    expect(bound.DEPLOY_TARGET).toEqual({ sha256: null, shown: null });
    expect(bound.MYAPP_DB?.shown).toBe("x");
    expect(bound.MYAPP).toEqual({ sha256: sha256Hex("not matched"), shown: null });
  });

  it("globs of non-consequential names add nothing when nothing matches", () => {
    const bound = boundEnvironment(policy(), {}, []);
    expect(Object.keys(bound).some((k) => k.startsWith("LD_") || k.startsWith("AWS_"))).toBe(false);
    expect(Object.values(bound).every((v) => v.sha256 === null)).toBe(true);
  });

  it("an empty value is bound and differs from unset", () => {
    const bound = boundEnvironment(policy(), { NODE_OPTIONS: "", FOO: "" }, []);
    expect(bound.NODE_OPTIONS).toEqual({ sha256: sha256Hex(""), shown: "" });
    expect(bound.FOO).toEqual({ sha256: sha256Hex(""), shown: null });
  });

  it("a long value is shown capped; the digest binds all of it", () => {
    const value = "x".repeat(10_000);
    const b = bindVariable("BASH_FUNC_f%%", value);
    expect(b.sha256).toBe(sha256Hex(value));
    expect(b.shown!.length).toBeLessThan(SHOWN_MAX + 40);
    expect(b.shown).toMatch(CUT_MARK);
    expect(b.shown).toContain("10000 characters in all");
  });

  it("keys come out sorted, whatever the input order (deterministic)", () => {
    const a = boundEnvironment(policy(), { AWS_B: "1", AWS_A: "2", LD_X: "3", ZZ: "4" }, ["Z_VAR", "A_VAR"]);
    const b = boundEnvironment(policy(), { ZZ: "4", LD_X: "3", AWS_A: "2", AWS_B: "1" }, ["A_VAR", "Z_VAR"]);
    expect(Object.keys(a)).toEqual([...Object.keys(a)].sort());
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
  });
});

describe("childEnvironment: what the child of an approved run receives", () => {
  const approvedEnv = { PATH: "/usr/bin:/bin", HOME: "/home/alice", USER: "alice", DATABASE_URL: "postgres://prod-db/x", TERM: "xterm", SHLVL: "1", PWD: "/repo" };
  const bound = boundEnvironment(policy(), approvedEnv, ["DATABASE_URL"]);

  it("the run as approved: the bound variables and the ones that may vary, PWD set to the bound directory", () => {
    const c = childEnvironment(bound, approvedEnv, "/repo");
    expect(c.env).toEqual({ ...approvedEnv, PWD: "/repo" });
    expect(c.withheld).toEqual([]);
  });

  it.each<[string, Record<string, string>, Record<string, string>, string[]]>([
    ["E15: a variable that appeared after approval is withheld", { FOO_NEW: "1" }, {}, ["FOO_NEW"]],
    ["E16: TERM, COLUMNS and SHLVL as they are now", { TERM: "screen", COLUMNS: "200", SHLVL: "3" }, { TERM: "screen", COLUMNS: "200", SHLVL: "3" }, []],
    ["E16: PWD naming another directory never reaches the child", { PWD: "/elsewhere", OLDPWD: "/x", _: "/y" }, {}, []],
    ["E13: an exported function that appeared is withheld", { "BASH_FUNC_echo%%": "() { echo pwned; }" }, {}, ["BASH_FUNC_echo%%"]],
  ])("%s", (_name, change, passed, withheld) => {
    const c = childEnvironment(bound, { ...approvedEnv, ...change }, "/repo");
    expect(c.env).toEqual({ ...approvedEnv, ...passed, PWD: "/repo" });
    expect(c.withheld).toEqual(withheld);
  });

  it("a bound value that changed is withheld (the binding comparison refuses such a run before this)", () => {
    const c = childEnvironment(bound, { ...approvedEnv, USER: "mallory" }, "/repo");
    expect(c.env.USER).toBeUndefined();
    expect(c.withheld).toEqual(["USER"]);
  });

  it("a variable bound as unset never reaches the child", () => {
    const c = childEnvironment(bound, { ...approvedEnv, NODE_OPTIONS: "--require evil.js" }, "/repo");
    expect(c.env.NODE_OPTIONS).toBeUndefined();
    expect(c.withheld).toEqual(["NODE_OPTIONS"]);
  });
});

describe("compareBinding with the whole environment bound", () => {
  const approvedEnv = { PATH: "/usr/bin", HOME: "/home/alice", USER: "alice", TERM: "xterm" };
  const rest = { argv: ["./purge.sh"], program: { path: "/repo/purge.sh", sha256: "a".repeat(64) }, cwd: "/repo", stdin: { kind: "null" as const }, policyDigest: "b".repeat(64) };
  const req = {
    ...rest,
    env: boundEnvironment(policy(), approvedEnv, []),
    environment: { name: "production", protected: true, evidence: [] },
    requester: { principal: "alice", fingerprint: "SHA256:x", key: "" },
  } as unknown as GuardRequest;
  const envDiffs = (env: Record<string, string>): string[] => {
    const now: RunBinding = { ...rest, files: [], env: boundEnvironment(policy(), env, []), environment: { name: "production", evidence: [] }, requesterFingerprint: "SHA256:x" };
    return compareBinding(req, now).map((d) => d.field);
  };

  it.each<[string, Record<string, string>, string[]]>([
    ["unchanged", approvedEnv, []],
    ["E16: TERM and COLUMNS changed", { ...approvedEnv, TERM: "dumb", COLUMNS: "300" }, []],
    ["E15: a variable of no consequence appeared: not a difference (it is withheld)", { ...approvedEnv, FOO_NEW: "1" }, []],
    ["E14: HOME changed", { ...approvedEnv, HOME: "/tmp/evil-home" }, ["env.HOME"]],
    ["E14: PSQLRC appeared", { ...approvedEnv, PSQLRC: "/tmp/evil.psqlrc" }, ["env.PSQLRC"]],
    ["E13: an exported bash function appeared", { ...approvedEnv, "BASH_FUNC_echo%%": "() { echo pwned; }" }, ["env.BASH_FUNC_echo%%"]],
    ["a name-only variable changed", { ...approvedEnv, USER: "mallory" }, ["env.USER"]],
    ["a name-only variable disappeared", { PATH: "/usr/bin", HOME: "/home/alice", TERM: "xterm" }, ["env.USER"]],
  ])("%s", (_name, env, fields) => {
    expect(envDiffs(env)).toEqual(fields);
  });
});

describe("redaction in what the approver is shown", () => {
  it.each([
    ["AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG"],
    ["AWS_SESSION_TOKEN", "FwoGZXIvYXdzE"],
    ["VAULT_TOKEN", "s.abcdef"],
    ["PGPASSWORD", "hunter2"],
    ["MY_PASSWD", "x"],
    ["GITHUB_PRIVATE_KEY", "-----BEGIN"],
    ["GOOGLE_APPLICATION_CREDENTIALS", "/home/a/key.json"],
    ["db_secret", "lowercase names too"],
  ])("%s is shown only as a digest prefix", (name, value) => {
    const b = bindVariable(name, value);
    expect(b.shown).toBe(`(secret, sha256 ${sha256Hex(value).slice(0, 8)}…)`);
    expect(b.shown).not.toContain(value);
    expect(b.sha256).toBe(sha256Hex(value));
  });

  it.each([
    ["URL userinfo password", "postgres://elb:s3cret@prod-db.internal:5432/elb", "postgres://elb:***@prod-db.internal:5432/elb"],
    ["password containing @", "postgres://u:p@ss@prod-db/x", "postgres://u:***@prod-db/x"],
    ["user without password is kept", "postgres://elb@prod-db/elb", "postgres://elb@prod-db/elb"],
    ["libpq keyword password", "host=prod-db password=s3cret dbname=elb", "host=prod-db password=*** dbname=elb"],
    ["quoted keyword password", "host=db password='a b c' user=x", "host=db password=*** user=x"],
    ["query-string token", "https://h/x?token=abc&y=1", "https://h/x?token=***&y=1"],
    ["nothing to hide", "prod-admin", "prod-admin"],
  ])("%s", (_name, value, shown) => {
    expect(redactValue(value)).toBe(shown);
    expect(bindVariable("DATABASE_URL", value).shown).toBe(shown);
  });
});

describe("envGlobMatches", () => {
  it.each([
    ["LD_*", "LD_PRELOAD", true],
    ["LD_*", "OLD_X", false],
    ["PG*", "PGHOST", true],
    ["PG*", "pghost", false],
    ["A?C", "ABC", true],
    ["A.C", "ABC", false],
    ["X+", "X+", true],
  ])("%s vs %s → %s", (pattern, name, expected) => {
    expect(envGlobMatches(pattern, name)).toBe(expected);
  });
});
