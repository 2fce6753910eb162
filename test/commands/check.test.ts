/**
 * `guard check` in process, as a table: the decision, its exit code and its JSON for a range of command
 * lines and environments, with a fixed clock and the memory store; no guard process is spawned.
 *
 * These carry what end-to-end tests of the built CLI once checked (test/e2e/run.test.ts "guard check"'s
 * JSON fields, `##[` markers and exit 0/77, "C3", "E9 env VAR=value"; test/e2e/detect.test.ts "nothing
 * set at all", "prod%2Ddb.internal", "psql -h", "kubectl exec … sh -c"); test/e2e/run.test.ts keeps one
 * `guard check` through the built CLI: its JSON on stdout and the decision as the process's exit code.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { checkCommand } from "../../src/commands/check.js";
import { standardPolicy } from "../e2e/world.js";
import { exitCodeOf } from "../helpers/runtime.js";
import { makeProject, type Project } from "./project.js";

let p: Project;
beforeAll(async () => {
  p = await makeProject({
    policy: (people) =>
      standardPolicy(people)
        .replace('        matches: "*prod-db.*"\n', '        matches: "*prod-db.*"\n      - env: PGHOST\n        matches: "prod-db.*"\n      - kube_context: "prod-*"\n      - env: AWS_PROFILE\n        matches: "prod"\n')
        .replace('        matches: "*staging-db.*"\n', '        matches: "*staging-db.*"\n      - env: PGHOST\n        matches: "stg-db.*"\n      - kube_context: "staging-*"\n      - env: AWS_PROFILE\n        matches: "staging"\n'),
  });
  await mkdir(join(p.home, ".kube"), { recursive: true });
  await writeFile(join(p.home, ".kube", "config"), "apiVersion: v1\nkind: Config\ncurrent-context: prod-eu\n");
  await writeFile(join(p.dir, "staging.kubeconfig"), "apiVersion: v1\nkind: Config\ncurrent-context: staging-eu\n", { mode: 0o600 });
  await mkdir(join(p.dir, "evil"));
  await writeFile(join(p.dir, "evil", "purge-lb-state.sh"), "#!/bin/sh\necho evil\n", { mode: 0o755 });
}, 30_000);
afterAll(async () => p?.cleanup());

const PROD = { DATABASE_URL: "postgres://prod-db.internal/elb" };
const STAGING = { DATABASE_URL: "postgres://staging-db.internal/elb" };
const NO_KUBE = { HOME: "/nonexistent-home" };

interface Row {
  name: string;
  argv: string[];
  env?: Record<string, string | undefined>;
  envFlag?: string;
  code: number;
  decision?: "allow" | "approval" | "deny";
  environment?: string | null;
  rules?: string[];
  /** What the first requirement must include. */
  requirement?: Record<string, unknown>;
  /** A piece of evidence the decision must show. */
  evidence?: { subject?: string; value?: string };
}

const rows: Row[] = [
  { name: "a read-only report in staging is allowed", argv: ["./maintenance/report-lb-state.sh"], env: { ...STAGING, ...NO_KUBE }, code: 0, decision: "allow", environment: "staging" },
  { name: "a purge in production needs an SRE's approval", argv: ["./maintenance/purge-lb-state.sh", "--all"], env: { ...PROD, ...NO_KUBE }, code: 75, decision: "approval", environment: "production", rules: ["purge-needs-an-sre"], requirement: { approvals: 1, from: ["sre"], reason: true, confirm: true, ttlSeconds: 1800 }, evidence: { subject: "DATABASE_URL" } },
  { name: "dropping the schema in production is denied", argv: ["./maintenance/migrate-lb-schema.sh", "--drop-all"], env: { ...PROD, ...NO_KUBE }, code: 77, decision: "deny", environment: "production", rules: ["never-migrate-by-hand"] },
  { name: "nothing set at all: the default environment applies", argv: ["./maintenance/purge-lb-state.sh"], env: NO_KUBE, code: 0, decision: "allow", environment: "development" },
  { name: "--env production on the command line is evidence too", argv: ["./maintenance/purge-lb-state.sh", "--env", "prod"], env: NO_KUBE, code: 75, decision: "approval", environment: "production" },
  { name: "--env declared to guard: a staging report", argv: ["./maintenance/report-lb-state.sh"], env: NO_KUBE, envFlag: "staging", code: 0, decision: "allow", environment: "staging" },
  { name: "E19: prod%2Ddb.internal is prod-db.internal", argv: ["./maintenance/purge-lb-state.sh"], env: { DATABASE_URL: "postgres://prod%2Ddb.internal/orders", ...NO_KUBE }, code: 75, decision: "approval", environment: "production" },
  { name: "E9: `env VAR=value cmd` is unwrapped and the assignment is evidence", argv: ["env", `DATABASE_URL=${PROD.DATABASE_URL}`, "./maintenance/purge-lb-state.sh"], env: NO_KUBE, code: 75, decision: "approval", environment: "production" },
  { name: "E21: psql -h prod-db.internal is production (where no rule allows psql: denied)", argv: ["psql", "-h", "prod-db.internal", "-c", "select 1"], env: NO_KUBE, code: 77, decision: "deny", environment: "production" },
  { name: "kubectl under a production context, whatever a nested sh -c says", argv: ["kubectl", "exec", "pod", "--", "sh", "-c", "kubectl --context=staging-eu delete ns x"], code: 77, environment: "production", evidence: { value: "prod-eu" } },
  { name: "RC3: AWS_PROFILE=staging alone is staging: the purge is allowed there", argv: ["./maintenance/purge-lb-state.sh"], env: { AWS_PROFILE: "staging", ...NO_KUBE }, code: 0, decision: "allow", environment: "staging" },
  { name: "RC3: AWS_DEFAULT_PROFILE and AWS_PROFILE that disagree are a conflict: DENY", argv: ["./maintenance/purge-lb-state.sh"], env: { AWS_PROFILE: "staging", AWS_DEFAULT_PROFILE: "prod", ...NO_KUBE }, code: 77, decision: "deny", environment: null },
  { name: "RC4: kubectl under a staging context, a --context=prod-eu after `--` is the remote command's: staging, allowed", argv: ["kubectl", "exec", "pod", "--", "kubectl", "--context=prod-eu", "delete", "ns", "x"], env: { KUBECONFIG: "<dir>/staging.kubeconfig" }, code: 0, decision: "allow", environment: "staging" },
  { name: "RC4: kubectl --server under a staging context: DENY", argv: ["kubectl", "--server", "https://10.0.0.1:6443", "delete", "ns", "x"], env: { KUBECONFIG: "<dir>/staging.kubeconfig" }, code: 77, decision: "deny", environment: null },
  { name: "RC4: kubectl --cluster=prod-eu under a staging context: DENY", argv: ["kubectl", "--cluster=prod-eu", "delete", "ns", "x"], env: { KUBECONFIG: "<dir>/staging.kubeconfig" }, code: 77, decision: "deny", environment: null },
  { name: "RC4: kubectl --user admin under a staging context: DENY", argv: ["kubectl", "--user", "admin", "delete", "ns", "x"], env: { KUBECONFIG: "<dir>/staging.kubeconfig" }, code: 77, decision: "deny", environment: null },
  { name: "E9: a wrapper that hides its command is denied", argv: ["sh", "-c", "./maintenance/purge-lb-state.sh"], env: { ...PROD, ...NO_KUBE }, code: 77, decision: "deny" },
  { name: "C3: a program found through a shadowing PATH entry is what is judged", argv: ["purge-lb-state.sh"], env: { ...PROD, ...NO_KUBE, PATH: `${"<dir>/evil"}:${process.env.PATH ?? "/usr/bin:/bin"}` }, code: 77, decision: "deny", environment: "production" },
];

describe("guard check, in process", () => {
  for (const row of rows) it(row.name, async () => {
    const env = Object.fromEntries(Object.entries(row.env ?? {}).map(([k, v]) => [k, v?.replace("<dir>", p.dir)]));
    const rt = p.runtime({ as: "dave", env });
    const code = await exitCodeOf(rt, () => checkCommand(row.argv, { json: true, env: row.envFlag }, rt));
    expect(code, rt.stderr()).toBe(row.code);
    const out = JSON.parse(rt.stdout()) as {
      decision: string;
      environment: string | null;
      rules: string[];
      argv: string[];
      program: { path: string };
      requirements: Record<string, unknown>[];
      evidence: { subject: string; value: string }[];
    };
    if (row.decision) expect(out.decision).toBe(row.decision);
    if (row.environment !== undefined) expect(out.environment).toBe(row.environment);
    if (row.rules) expect(out.rules).toEqual(row.rules);
    if (row.requirement) expect(out.requirements[0]).toMatchObject(row.requirement);
    if (row.evidence) expect(out.evidence, rt.stdout()).toContainEqual(expect.objectContaining(row.evidence));
    expect(out.argv).toEqual(row.argv);
    // The decision's exit code is the decision: 0 allow, 75 approval, 77 deny.
    expect({ allow: 0, approval: 75, deny: 77 }[out.decision]).toBe(row.code);
  });

  it("C3: the shadowing program's own path is reported", async () => {
    const rt = p.runtime({ env: { ...PROD, ...NO_KUBE, PATH: `${join(p.dir, "evil")}:${process.env.PATH}` } });
    await exitCodeOf(rt, () => checkCommand(["purge-lb-state.sh"], { json: true }, rt));
    expect((JSON.parse(rt.stdout()) as { program: { path: string } }).program.path).toBe(join(p.dir, "evil", "purge-lb-state.sh"));
  });

  it("JSON carries no GitHub Actions command marker, and still parses to the same argv", async () => {
    const argv = ["./maintenance/report-lb-state.sh", "##[error]fake", "::warning::x", "\u001b]8;;http://evil\u0007x"];
    const rt = p.runtime({ env: { ...STAGING, ...NO_KUBE } });
    expect(await exitCodeOf(rt, () => checkCommand(argv, { json: true }, rt))).toBe(0);
    expect(rt.stdout()).not.toContain("##[");
    expect(rt.stdout()).not.toContain("\u001b");
    expect((JSON.parse(rt.stdout()) as { argv: string[] }).argv).toEqual(argv);
  });

  it("without --json the decision is shown as text on stdout, with no terminal escapes from the command line", async () => {
    const rt = p.runtime({ env: { ...PROD, ...NO_KUBE } });
    expect(await exitCodeOf(rt, () => checkCommand(["./maintenance/purge-lb-state.sh", "\u001b[2J--all"], {}, rt))).toBe(75);
    expect(rt.stdout()).toContain("production");
    expect(rt.stdout()).toContain("purge-needs-an-sre");
    expect(rt.stdout()).not.toContain("\u001b");
  });

  it("without --json the exit code is the decision too: 0 for allow, 77 for deny", async () => {
    const allow = p.runtime({ env: { ...STAGING, ...NO_KUBE } });
    expect(await exitCodeOf(allow, () => checkCommand(["./maintenance/report-lb-state.sh"], {}, allow)), allow.stderr()).toBe(0);
    const deny = p.runtime({ env: { ...PROD, ...NO_KUBE } });
    expect(await exitCodeOf(deny, () => checkCommand(["./maintenance/migrate-lb-schema.sh", "--drop-all"], {}, deny)), deny.stderr()).toBe(77);
  });

  it("an environment --env does not know is a usage error (64) naming the known ones; nothing on stdout", async () => {
    const rt = p.runtime({ env: NO_KUBE });
    expect(await exitCodeOf(rt, () => checkCommand(["./maintenance/report-lb-state.sh"], { json: true, env: "moon" }, rt))).toBe(64);
    expect(rt.stdout()).toBe("");
    expect(rt.stderr()).toContain("production");
  });

  it("no policy configured: 78, never an allow", async () => {
    const rt = p.runtime({ env: { GUARD_POLICY: undefined, ...NO_KUBE } });
    // The runtime's own working directory has no guard.config.yaml either: use the home.
    const inHome = { ...rt, cwd: p.home } as typeof rt;
    expect(await exitCodeOf(inHome, () => checkCommand(["./maintenance/report-lb-state.sh"], { json: true }, inHome))).toBe(78);
    expect(rt.stdout()).toBe("");
  });

  it("check decides at the store's clock, read once", async () => {
    const rt = p.runtime({ env: { ...STAGING, ...NO_KUBE } });
    await exitCodeOf(rt, () => checkCommand(["./maintenance/report-lb-state.sh"], { json: true }, rt));
    expect(rt.opened).toEqual([p.env.GUARD_STORE]);
  });
});

describe("I3: CI variables change the format, never the decision (in process)", () => {
  // Once 20 spawned `guard check`s (test/ci/actions.test.ts, which keeps `guard run`'s half of I3 and
  // the annotations and step summary of check through the built CLI).
  const cases: Array<[string, string[], Record<string, string>]> = [
    ["allowed report", ["./maintenance/report-lb-state.sh"], PROD],
    ["purge needs approval", ["./maintenance/purge-lb-state.sh", "--all"], PROD],
    ["migration drop denied", ["./maintenance/migrate-lb-schema.sh", "--drop-all"], PROD],
    ["conflicting target", ["./maintenance/purge-lb-state.sh", "--env", "staging"], PROD],
    ["development by default", ["./maintenance/purge-lb-state.sh"], {}],
  ];
  const ciEnvs: Array<Record<string, string>> = [{ CI: "true" }, { GITHUB_ACTIONS: "true", CI: "true" }, { GITLAB_CI: "true", CI: "true" }];
  let n = 0;

  it.each(cases)("check --json: %s is decided the same with and without CI variables", async (_name, argv, env) => {
    const plain = p.runtime({ as: "dave", env: { ...env, ...NO_KUBE, CI: undefined, GITHUB_ACTIONS: undefined, GITLAB_CI: undefined } });
    const code = await exitCodeOf(plain, () => checkCommand(argv, { json: true }, plain));
    expect([0, 75, 77]).toContain(code);
    const decided = JSON.parse(plain.stdout()) as Record<string, unknown>;
    for (const ci of ciEnvs) {
      const summary = join(p.dir, `summary-${++n}.md`);
      await writeFile(summary, "");
      const rt = p.runtime({ as: "dave", env: { ...env, ...NO_KUBE, ...ci, GITHUB_STEP_SUMMARY: summary } });
      expect([ci, await exitCodeOf(rt, () => checkCommand(argv, { json: true }, rt))]).toEqual([ci, code]);
      expect(JSON.parse(rt.stdout())).toEqual(decided);
      // Under GitHub Actions the format did change: a step summary was written.
      if (ci.GITHUB_ACTIONS) expect(await readFile(summary, "utf8")).toContain("### guard check: ");
    }
  });
});
