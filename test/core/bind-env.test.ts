import { describe, expect, it } from "vitest";
import { bindVariable, boundEnvironment, envGlobMatches, redactValue } from "../../src/core/bind-env.js";
import { sha256Hex } from "../../src/core/canonical.js";

const policy = (bindEnv: string[] = []) => ({ bindEnv });

describe("boundEnvironment", () => {
  it("C11: sensitive fixed names are bound even when unset, so a value at run time is a difference", () => {
    const bound = boundEnvironment(policy(), {}, []);
    for (const name of ["PATH", "NODE_OPTIONS", "BASH_ENV", "PGOPTIONS", "DATABASE_URL", "KUBECONFIG", "PS4", "IFS", "PYTHONPATH"]) {
      expect(bound[name]).toEqual({ sha256: null, shown: null });
    }
  });

  it.each([
    ["C11: LD_PRELOAD", "LD_PRELOAD", "/tmp/evil.so"],
    ["DYLD_INSERT_LIBRARIES", "DYLD_INSERT_LIBRARIES", "/tmp/evil.dylib"],
    ["E12: AWS_PROFILE", "AWS_PROFILE", "prod-admin"],
    ["PG glob: PGSSLMODE", "PGSSLMODE", "disable"],
    ["CLOUDSDK_*", "CLOUDSDK_CORE_PROJECT", "prod"],
    ["AZURE_*", "AZURE_SUBSCRIPTION_ID", "sub"],
    ["ARM_*", "ARM_CLIENT_ID", "id"],
    ["TF_VAR_*", "TF_VAR_region", "us-east-1"],
    ["TF_WORKSPACE", "TF_WORKSPACE", "prod"],
    ["VAULT_ADDR", "VAULT_ADDR", "https://vault"],
  ])("%s is bound by a built-in glob when present", (_name, name, value) => {
    const bound = boundEnvironment(policy(), { [name]: value, UNRELATED: "x" }, []);
    expect(bound[name]).toEqual({ sha256: sha256Hex(value), shown: value });
    expect(bound.UNRELATED).toBeUndefined();
  });

  it("globs bind only the variables that are present", () => {
    const bound = boundEnvironment(policy(), {}, []);
    expect(Object.keys(bound).some((k) => k.startsWith("LD_") || k.startsWith("AWS_"))).toBe(false);
  });

  it("detector variables and policy bind_env names are bound, unset ones as unset", () => {
    const bound = boundEnvironment(policy(["DEPLOY_TARGET", "MYAPP_*"]), { MYAPP_DB: "x", MYAPP: "not matched" }, ["SERVICE_ENV"]);
    expect(bound.SERVICE_ENV).toEqual({ sha256: null, shown: null });
    expect(bound.DEPLOY_TARGET).toEqual({ sha256: null, shown: null });
    expect(bound.MYAPP_DB?.shown).toBe("x");
    expect(bound.MYAPP).toBeUndefined();
  });

  it("an empty value is bound and differs from unset", () => {
    const bound = boundEnvironment(policy(), { NODE_OPTIONS: "" }, []);
    expect(bound.NODE_OPTIONS).toEqual({ sha256: sha256Hex(""), shown: "" });
  });

  it("keys come out sorted, whatever the input order (deterministic)", () => {
    const a = boundEnvironment(policy(), { AWS_B: "1", AWS_A: "2", LD_X: "3" }, ["Z_VAR", "A_VAR"]);
    const b = boundEnvironment(policy(), { LD_X: "3", AWS_A: "2", AWS_B: "1" }, ["A_VAR", "Z_VAR"]);
    expect(Object.keys(a)).toEqual([...Object.keys(a)].sort());
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
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
