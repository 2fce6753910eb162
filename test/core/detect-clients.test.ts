import { describe, expect, it } from "vitest";
import { detectTarget } from "../../src/core/detect.js";
import { detectionFiles } from "../../src/core/detectors/registry.js";
import { awsProfileReadings } from "../../src/core/aws.js";
import { kubectlOverrides } from "../../src/core/kube.js";
import { hiddenByProgram } from "../../src/core/wrappers.js";
import type { Detection, DetectionInput } from "../../src/core/types.js";
import { fixturePolicy, input } from "./policy-fixture.js";

/**
 * SECURITY E18–E21: detection reads a target as the client that will use it reads it, and a subject it
 * cannot place is undetermined. The fixture: production is `*prod-db.*` / PGHOST `prod-db*` / profile
 * `prod` / context `prod-*`; staging the same with `staging`; development is DATABASE_URL `*localhost*`
 * and the default.
 */
const policy = fixturePolicy();
const detect = (over: Partial<DetectionInput>): Detection => detectTarget(policy, input(over));
const psql = (args: string[], env: Record<string, string> = {}): Detection => detect({ program: ["psql", "psql"], args, env });

describe("E18: a subject that is set but unrecognised is undetermined, never the default", () => {
  it.each([
    ["a DATABASE_URL nobody listed (a typo of prod)", { env: { DATABASE_URL: "postgres://orders-prd-db.internal/orders" } }, 'DATABASE_URL="postgres://orders-prd-db.internal/orders" is set'],
    ["PGHOST", { env: { PGHOST: "db7" } }, 'PGHOST="db7" is set'],
    ["AWS_PROFILE", { env: { AWS_PROFILE: "sandbox" } }, 'AWS_PROFILE="sandbox" is set'],
    ["a kube context", { kubeconfigs: [{ path: "/k", currentContext: "eks-new" }] }, 'kube context "eks-new" (from /k) is set'],
    ["a detector flag with a matcher", { args: ["--profile", "sandbox"] }, 'flag --profile "sandbox" is set'],
  ] as const)("%s", (_name, over, named) => {
    const d = detect(over as Partial<DetectionInput>);
    expect(d.environment).toBeNull();
    expect(d.problems).toEqual([expect.stringContaining(named)]);
    expect(d.problems[0]).toContain("no environment's detector recognises it");
    expect(d.evidence.some((e) => e.source === "default")).toBe(false);
  });

  it("a password in the unrecognised value is never shown", () => {
    const d = detect({ env: { DATABASE_URL: "postgres://app:hunter2@orders-prd-db.internal/orders" } });
    expect(d.environment).toBeNull();
    expect(JSON.stringify(d)).not.toContain("hunter2");
    expect(d.problems.join()).toContain('DATABASE_URL="postgres://app@orders-prd-db.internal/orders" (as libpq reads it) is set');
  });

  it("an unrecognised subject refuses even when another one is recognised", () => {
    expect(detect({ env: { AWS_PROFILE: "prod", PGHOST: "db7" } }).environment).toBeNull();
  });

  it("with no subject present at all the default applies; a host name or argument detector is not a subject", () => {
    expect(detect({ env: { UNRELATED: "x" }, host: "laptop", args: ["--all"] }).environment).toBe("development");
  });
});

describe("E19: connection strings as libpq reads them", () => {
  it.each([
    ["percent-encoding", "postgres://prod%2Ddb.internal/orders", "production"],
    ["postgresql://", "postgresql://prod-db.internal/orders", "production"],
    ["conninfo", "host=prod-db.internal dbname=orders", "production"],
    ["conninfo quoted", "host = 'prod-db.internal' dbname=orders", "production"],
    ["encoded staging", "postgres://app@staging%2ddb.internal/x", "staging"],
    ["local", "postgres://localhost/dev", "development"],
  ])("%s: %s → %s", (_name, url, env) => {
    const d = detect({ env: { DATABASE_URL: url } });
    expect(d.problems).toEqual([]);
    expect(d.environment).toBe(env);
  });

  it("several hosts: each server must be recognised, and all must agree", () => {
    const mixed = detect({ env: { DATABASE_URL: "postgresql://staging-db.internal,prod-db.internal/x" } });
    expect(mixed.environment).toBeNull();
    expect(mixed.problems).toEqual([expect.stringMatching(/^conflicting target: .*staging.*production|^conflicting target: .*production.*staging/)]);
    const unknown = detect({ env: { DATABASE_URL: "postgresql://prod-db.internal,db7.internal/x" } });
    expect(unknown.environment).toBeNull();
    expect(unknown.problems.join()).toContain("server 2 of 2");
  });

  it("hostaddr is shown in the decoded reading, so a detector can see where it really goes", () => {
    const d = detect({ env: { DATABASE_URL: "host=staging-db.internal hostaddr=10.0.0.5 dbname=x" } });
    expect(d.evidence.map((e) => e.value)).toContain("postgresql://staging-db.internal/x?hostaddr=10.0.0.5");
  });

  it("a URI libpq rejects is read as spelled (an application's own parser may accept it); unrecognised refuses", () => {
    expect(detect({ env: { DATABASE_URL: "postgres://prod-db.internal/x?pool=5" } }).environment).toBe("production");
    expect(detect({ env: { DATABASE_URL: "postgres://prod%2Ddb.internal/x?pool=5" } }).environment).toBeNull();
  });
});

describe("E19: a PostgreSQL client's own arguments are read like the client", () => {
  it("a conninfo argument reaches production although PGHOST says staging: both shown, refused as a conflict", () => {
    const d = psql(["host=prod-db.internal", "-c", "select 1"], { PGHOST: "staging-db.internal" });
    expect(d.environment).toBeNull();
    expect(d.problems).toEqual([expect.stringContaining("conflicting target")]);
    expect(d.problems[0]).toContain("production");
    expect(d.problems[0]).toContain("staging");
  });

  it.each([
    [["-h", "prod-db.internal"], "production"],
    [["--host=prod-db.internal", "orders"], "production"],
    [["postgres://prod%2Ddb.internal/orders"], "production"],
    [["-d", "host=staging-db.internal dbname=x"], "staging"],
    [["-Xhprod-db.internal"], "production"],
  ])("psql %j → %s", (args, env) => {
    const d = psql(args);
    expect(d.problems).toEqual([]);
    expect(d.environment).toBe(env);
  });

  it("an argument host nobody listed is unrecognised", () => {
    expect(psql(["-h", "db7.internal"]).problems.join()).toContain('psql -h "db7.internal" is set');
  });

  it("a program that is not a PostgreSQL client keeps its arguments to itself", () => {
    expect(detect({ program: ["deploy.sh"], args: ["-h", "db7.internal"] }).environment).toBe("development");
  });

  it("a connection string libpq rejects refuses", () => {
    expect(psql(["postgresql://prod-db%zz/x"]).problems.join()).toContain("libpq rejects");
  });

  it("services: the service file's host is a reading (it beats PGHOST in libpq), an unknown service refuses", () => {
    const files = [{ path: "/home/u/.pg_service.conf", text: "[orders]\nhost=prod-db.internal\ndbname=orders\n" }];
    expect(detect({ env: { PGSERVICE: "orders" }, pgServiceFiles: files }).environment).toBe("production");
    const both = detect({ env: { PGSERVICE: "orders", PGHOST: "staging-db.internal" }, pgServiceFiles: files });
    expect(both.problems).toEqual([expect.stringContaining("conflicting target")]);
    expect(psql(["service=orders"], {}).problems.join()).toContain('definition of service "orders" not found');
    expect(detect({ program: ["psql"], args: ["service=orders"], pgServiceFiles: files }).environment).toBe("production");
    expect(detect({ env: { DATABASE_URL: "service=orders" }, pgServiceFiles: files }).environment).toBe("production");
    expect(detectionFiles(policy, [], { PGSERVICE: "x" }, "/home/u").pgServiceFiles).toBe(true);
    expect(detectionFiles(policy, [], {}, "/home/u").pgServiceFiles).toBeUndefined();
  });
});

describe("E20: AWS profiles as each AWS client reads them", () => {
  it.each([
    // CLI v1 / boto3 read AWS_DEFAULT_PROFILE first, CLI v2 AWS_PROFILE first, the other SDKs AWS_PROFILE only
    ["both set and different: a conflict, both shown", { AWS_PROFILE: "staging", AWS_DEFAULT_PROFILE: "prod" }, [], null],
    ["only AWS_DEFAULT_PROFILE, though the policy also watches AWS_PROFILE", { AWS_DEFAULT_PROFILE: "prod" }, [], "production"],
    ["both set to the same", { AWS_PROFILE: "prod", AWS_DEFAULT_PROFILE: "prod" }, [], "production"],
  ] as const)("%s", (_name, env, args, expected) => {
    const d = detect({ env, args: [...args], program: ["deploy.sh"] });
    expect(d.environment).toBe(expected);
    if (expected === null) expect(d.problems.join()).toMatch(/AWS_PROFILE says staging, but AWS_DEFAULT_PROFILE says production|AWS_DEFAULT_PROFILE says production, but AWS_PROFILE says staging/);
  });

  it("`aws --profile` beats both variables for the aws CLI", () => {
    const d = detect({ program: ["aws", "aws"], args: ["s3", "rm", "--recursive", "s3://b", "--profile", "prod"], env: { AWS_PROFILE: "staging" } });
    expect(d.environment).toBe("production");
    expect(awsProfileReadings(["aws"], ["--profile=prod"], { AWS_PROFILE: "x" })).toEqual([{ value: "prod", via: "--profile" }]);
    expect(awsProfileReadings(["terraform"], ["--profile=prod"], { AWS_PROFILE: "x" })).toEqual([{ value: "x", via: "AWS_PROFILE" }]);
  });
});

describe("E21: kubectl's own flag handling", () => {
  const prodContext = [{ path: "/k", currentContext: "prod-eu" }];
  it("a --context after `--` belongs to the remote command", () => {
    const d = detect({
      program: ["kubectl"],
      args: ["exec", "pod", "--", "sh", "-c", "kubectl --context=staging-eu get pods"],
      kubeconfigs: prodContext,
    });
    expect(d.environment).toBe("production");
    const d2 = detect({ program: ["kubectl"], args: ["exec", "pod", "--", "kubectl", "--context", "staging-eu"], kubeconfigs: prodContext });
    expect(d2.environment).toBe("production");
  });

  it.each([
    [["--server", "https://10.0.0.1:6443", "get", "pods"], "--server"],
    [["-s", "https://10.0.0.1:6443", "get", "pods"], "--server"],
    [["-shttps://10.0.0.1:6443", "get", "pods"], "--server"],
    [["--cluster=prod-eu", "get", "pods"], "--cluster"],
    [["--user", "admin", "delete", "ns", "x"], "--user"],
  ])("kubectl %j keeps the context's name but changes its target: refused", (args, flag) => {
    const d = detect({ program: ["kubectl"], args, kubeconfigs: [{ path: "/k", currentContext: "staging-eu" }] });
    expect(d.environment).toBeNull();
    expect(d.problems.join()).toContain(`kubectl ${flag}`);
  });

  it("those flags after `--` are the remote command's", () => {
    expect(kubectlOverrides(["exec", "p", "--", "curl", "--user", "x", "-s", "y"])).toEqual([]);
  });
});

describe("E9: wrappers judged by the program that really runs", () => {
  it.each([
    [{ base: "bash", givenBase: "tool" }, ["-c", "x"], "tool is bash: bash hides the command it runs"],
    [{ base: "rbash", givenBase: "rbash" }, ["-c", "x"], "rbash hides the command it runs"],
    [{ base: "busybox", givenBase: "sh" }, ["-c", "x"], "sh is busybox: busybox hides the command it runs"],
    [{ base: "ld-linux-x86-64.so.2", givenBase: "ld-linux-x86-64.so.2" }, ["/bin/sh", "-c", "x"], "dynamic loader"],
    [{ base: "ld.so", givenBase: "ld.so" }, ["/bin/true"], "dynamic loader"],
    [{ base: "env", givenBase: "e" }, ["-S", "sh -c x"], "e is env (env)"],
    [{ base: "python3.11", givenBase: "python3" }, ["-m", "pip"], "python3.11 -m runs inline code"],
    [{ base: "node", givenBase: "node" }, ["-p", "1"], "node -p runs inline code"],
  ])("%j %j", (program, args, reason) => {
    expect(hiddenByProgram(program, args)).toContain(reason);
  });

  it.each([
    [{ base: "psql", givenBase: "psql" }, ["-c", "select 1"]],
    [{ base: "pg_wrapper", givenBase: "psql" }, ["-c", "select 1"]],
    [{ base: "python3.11", givenBase: "python3" }, ["script.py"]],
  ])("%j %j runs itself", (program, args) => {
    expect(hiddenByProgram(program, args)).toBeUndefined();
  });
});
