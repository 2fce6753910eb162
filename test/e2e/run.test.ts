/**
 * `guard run` and `guard check` end to end: the built CLI spawned in a temporary project, one test per
 * exit code and per security case that only the whole program can show.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chmod, mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { guard, makeWorld, type World } from "./world.js";

let w: World;
beforeAll(async () => {
  w = await makeWorld();
});
afterAll(async () => w.cleanup());

const PROD = { DATABASE_URL: "postgres://app@prod-db.internal/elb" };
const STAGING = { DATABASE_URL: "postgres://app@staging-db.internal/elb" };

describe("guard run: allowed runs", () => {
  it("runs an allowed command with its stdout untouched and exits 0", async () => {
    const r = await guard(w, ["run", "--", "./maintenance/report-lb-state.sh", "--region", "us-east-1"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("report --region us-east-1\n");
  });

  it.each([0, 1, 77, 255])("X3: passes the child's exit status %i through", async (status) => {
    const r = await guard(w, ["run", "--", "./maintenance/exit-with.sh", String(status)], { env: PROD });
    expect(r.code).toBe(status);
    if (status !== 0) expect(r.stderr).toMatch(new RegExp(`guard: status=ran exit=${status}`));
  });

  it("X3: a child killed by SIGSEGV gives 139", async () => {
    await writeFile(join(w.dir, "maintenance", "segv.sh"), "#!/bin/sh\nkill -SEGV $$\n", { mode: 0o755 });
    const r = await guard(w, ["run", "--", "./maintenance/segv.sh"]);
    expect(r.code).toBe(139);
  });

  it("shows an unmissable banner for a protected target, on stderr only", async () => {
    const r = await guard(w, ["run", "--", "./maintenance/report-lb-state.sh"], { env: PROD });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("PROTECTED TARGET: PRODUCTION");
    expect(r.stderr).toContain("DATABASE_URL");
    expect(r.stdout).toBe("report \n");
  });

  it("C8: arguments are never given to a shell", async () => {
    const r = await guard(w, ["run", "--", "./maintenance/report-lb-state.sh", "$(touch pwned)", ";", "*"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("report $(touch pwned) ; *\n");
  });
});

describe("guard run: refusals", () => {
  it("X5: a command that does not exist is 127, before anything else", async () => {
    const r = await guard(w, ["run", "--", "./maintenance/nope.sh"], { env: PROD });
    expect(r.code).toBe(127);
    expect(r.stderr).toMatch(/not found/);
  });

  it("X5: a file without execute permission is 126; so is a directory", async () => {
    await writeFile(join(w.dir, "maintenance", "noexec.sh"), "#!/bin/sh\necho ran\n", { mode: 0o644 });
    await chmod(join(w.dir, "maintenance", "noexec.sh"), 0o644);
    expect((await guard(w, ["run", "--", "./maintenance/noexec.sh"])).code).toBe(126);
    expect((await guard(w, ["run", "--", "./maintenance"])).code).toBe(126);
  });

  it("denies a deny rule with its message and exit 77; nothing runs", async () => {
    const r = await guard(w, ["run", "--", "./maintenance/migrate-lb-schema.sh", "--drop-all"], { env: PROD });
    expect(r.code).toBe(77);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("release pipeline");
    expect(r.stderr).toMatch(/status=denied exit=77/);
  });

  it("E5: --env staging while DATABASE_URL says production is a conflicting target (77), with all evidence", async () => {
    const r = await guard(w, ["run", "--env", "staging", "--", "./maintenance/report-lb-state.sh"], { env: PROD });
    expect(r.code).toBe(77);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/conflict/i);
    expect(r.stderr).toContain("DATABASE_URL");
    expect(r.stderr).toContain("--env");
  });

  it("E5: an --env flag in the command's own args that disagrees with DATABASE_URL is refused", async () => {
    const r = await guard(w, ["run", "--", "./maintenance/report-lb-state.sh", "--env", "staging"], { env: PROD });
    expect(r.code).toBe(77);
  });

  it("E2: a look-alike environment name is a usage error (64)", async () => {
    const r = await guard(w, ["run", "--env", "prоd", "--", "./maintenance/report-lb-state.sh"]);
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/U\+043E/);
  });

  it("E4: aliases normalise: --env PRD against a production DATABASE_URL agrees", async () => {
    const r = await guard(w, ["run", "--env", "PRD", "--", "./maintenance/report-lb-state.sh"], { env: PROD });
    expect(r.code).toBe(0);
  });

  it("an approval-needing run without a terminal exits 75 and prints the approve line", async () => {
    const r = await guard(w, ["run", "--confirm", "production", "--reason", "INC-1", "--", "./maintenance/purge-lb-state.sh"], { env: PROD, as: "alice" });
    expect(r.code).toBe(75);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/guard approve r-[a-z2-7]{20}/);
  });

  it("C1: path tricks do not change the decision (../, //, symlink)", async () => {
    await mkdir(join(w.dir, "links"), { recursive: true });
    await symlink(join(w.dir, "maintenance", "migrate-lb-schema.sh"), join(w.dir, "links", "harmless.sh")).catch(() => undefined);
    for (const path of ["./maintenance/../maintenance/migrate-lb-schema.sh", "maintenance//migrate-lb-schema.sh", "./links/harmless.sh"]) {
      const r = await guard(w, ["run", "--", path, "--drop-all"], { env: PROD });
      expect(r.code, path).toBe(77);
    }
  });

  it("C3: a PATH entry that shadows a program changes what is matched and run", async () => {
    await mkdir(join(w.dir, "evil"), { recursive: true });
    await writeFile(join(w.dir, "evil", "purge-lb-state.sh"), "#!/bin/sh\necho evil\n", { mode: 0o755 });
    const r = await guard(w, ["check", "--json", "--", "purge-lb-state.sh"], { env: { ...PROD, PATH: `${join(w.dir, "evil")}:${w.env.PATH}` } });
    const out = JSON.parse(r.stdout) as { program: { path: string }; decision: string };
    expect(out.program.path).toBe(join(w.dir, "evil", "purge-lb-state.sh"));
    // Outside maintenance/, no rule allows it in production: fail closed.
    expect(out.decision).toBe("deny");
  });

  it("E9: a wrapper that hides its command is refused", async () => {
    const r = await guard(w, ["run", "--", "sh", "-c", "./maintenance/purge-lb-state.sh"], { env: PROD });
    expect(r.code).toBe(77);
    expect(r.stderr).toMatch(/wrapper|hides/i);
  });

  it("E9: `env VAR=value cmd` is unwrapped, and the assignment takes part in detection", async () => {
    const r = await guard(w, ["check", "--json", "--", "env", `DATABASE_URL=${PROD.DATABASE_URL}`, "./maintenance/purge-lb-state.sh"]);
    expect(r.code).toBe(75);
    expect(JSON.parse(r.stdout).environment).toBe("production");
  });
});

describe("guard check", () => {
  it("prints the decision, target, evidence, rules and requirements as JSON, and never runs", async () => {
    const r = await guard(w, ["check", "--json", "--", "./maintenance/purge-lb-state.sh", "--all"], { env: PROD });
    expect(r.code).toBe(75);
    const out = JSON.parse(r.stdout);
    expect(out.decision).toBe("approval");
    expect(out.environment).toBe("production");
    expect(out.rules).toEqual(["purge-needs-an-sre"]);
    expect(out.requirements[0]).toMatchObject({ approvals: 1, from: ["sre"], reason: true, confirm: true, ttlSeconds: 1800 });
    expect(out.evidence.some((e: { subject: string }) => e.subject === "DATABASE_URL")).toBe(true);
  });

  it("JSON output never carries a GitHub Actions command marker, and still parses to the same argv", async () => {
    const r = await guard(w, ["check", "--json", "--", "./maintenance/report-lb-state.sh", "##[error]fake", "::warning::x"]);
    expect(r.stdout).not.toContain("##[");
    expect(JSON.parse(r.stdout).argv).toEqual(["./maintenance/report-lb-state.sh", "##[error]fake", "::warning::x"]);
  });

  it("exit 0 for allow, 77 for deny", async () => {
    expect((await guard(w, ["check", "--", "./maintenance/report-lb-state.sh"], { env: STAGING })).code).toBe(0);
    expect((await guard(w, ["check", "--", "./maintenance/migrate-lb-schema.sh", "--drop-all"], { env: PROD })).code).toBe(77);
  });
});

describe("policy and configuration errors", () => {
  it("78 when no policy is configured, never an allow", async () => {
    const r = await guard(w, ["run", "--", "./maintenance/report-lb-state.sh"], { env: { GUARD_POLICY: undefined }, cwd: w.home });
    expect(r.code).toBe(78);
    expect(r.stdout).toBe("");
  });

  it("P5: a misspelled field stops every run with 78 and file:line:col", async () => {
    const bad = join(w.dir, "bad-policies");
    await mkdir(bad, { recursive: true });
    await writeFile(join(bad, "guard.yaml"), "version: 1\nenvironments:\n  production:\n    protected: true\nrules:\n  - name: x\n    match: { environments: [production] }\n    require: { aprovals: 2 }\n");
    const r = await guard(w, ["run", "--", "./maintenance/report-lb-state.sh"], { env: { GUARD_POLICY: bad } });
    expect(r.code).toBe(78);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/guard\.yaml:8:\d+/);
    expect(r.stderr).toMatch(/approvals/);
  });
});
