/**
 * `guard run` and `guard check` end to end in a temporary project, one test per exit code and per
 * security case that only the whole program can show (a command really run or not, its exit status and
 * output passed through). Decisions and refusals that need no real process are tables in process:
 * test/commands/check.test.ts and test/commands/run-refusals.test.ts.
 *
 * Through the built CLI, spawned: an allowed run's stdout untouched, the child's exit status and a
 * child's death by SIGSEGV as the real process's own exit code, and check's wiring (the JSON alone on
 * stdout, the decision as the exit code). The rest (banner, C8, X5, deny, E4/E5, 75, C1, 78, P5) run
 * guard's whole command line in process (guardIn, test/helpers/in-process.ts), the wrapped command
 * really spawned, its output in the same files as guard's.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chmod, mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { guard, makeWorld, type World } from "./world.js";
import { guardIn } from "../helpers/in-process.js";

let w: World;
beforeAll(async () => {
  w = await makeWorld();
});
afterAll(async () => w.cleanup());

const PROD = { DATABASE_URL: "postgres://app@prod-db.internal/elb" };

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
    const r = await guardIn(w, ["run", "--", "./maintenance/report-lb-state.sh"], { env: PROD });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("PROTECTED TARGET: PRODUCTION");
    expect(r.stderr).toContain("DATABASE_URL");
    expect(r.stdout).toBe("report \n");
  });

  it("C8: arguments are never given to a shell", async () => {
    const r = await guardIn(w, ["run", "--", "./maintenance/report-lb-state.sh", "$(touch pwned)", ";", "*"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("report $(touch pwned) ; *\n");
  });
});

describe("guard run: refusals", () => {
  it("X5: a file without execute permission is 126; so is a directory", async () => {
    await writeFile(join(w.dir, "maintenance", "noexec.sh"), "#!/bin/sh\necho ran\n", { mode: 0o644 });
    await chmod(join(w.dir, "maintenance", "noexec.sh"), 0o644);
    expect((await guardIn(w, ["run", "--", "./maintenance/noexec.sh"])).code).toBe(126);
    expect((await guardIn(w, ["run", "--", "./maintenance"])).code).toBe(126);
  });

  // The refusal table is test/commands/run-refusals.test.ts, on the command alone; this one shows over the
  // whole command line (and the file store) that the refused command really does not run, and where the
  // status line goes.
  it("denies a deny rule with its message and exit 77; nothing runs", async () => {
    const r = await guardIn(w, ["run", "--", "./maintenance/migrate-lb-schema.sh", "--drop-all"], { env: PROD });
    expect(r.code).toBe(77);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("release pipeline");
    expect(r.stderr).toMatch(/status=denied exit=77/);
  });

  it("E5: an --env flag in the command's own args that disagrees with DATABASE_URL is refused", async () => {
    const r = await guardIn(w, ["run", "--", "./maintenance/report-lb-state.sh", "--env", "staging"], { env: PROD });
    expect(r.code).toBe(77);
  });

  it("E4: aliases normalise: --env PRD against a production DATABASE_URL agrees", async () => {
    const r = await guardIn(w, ["run", "--env", "PRD", "--", "./maintenance/report-lb-state.sh"], { env: PROD });
    expect(r.code).toBe(0);
  });

  it("an approval-needing run without a terminal exits 75 and prints the approve line", async () => {
    const r = await guardIn(w, ["run", "--confirm", "production", "--reason", "INC-1", "--", "./maintenance/purge-lb-state.sh"], { env: PROD, as: "alice" });
    expect(r.code).toBe(75);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/guard approve r-[a-z2-7]{20}/);
  });

  it("C1: path tricks do not change the decision (../, //, symlink)", async () => {
    await mkdir(join(w.dir, "links"), { recursive: true });
    await symlink(join(w.dir, "maintenance", "migrate-lb-schema.sh"), join(w.dir, "links", "harmless.sh")).catch(() => undefined);
    for (const path of ["./maintenance/../maintenance/migrate-lb-schema.sh", "maintenance//migrate-lb-schema.sh", "./links/harmless.sh"]) {
      const r = await guardIn(w, ["run", "--", path, "--drop-all"], { env: PROD });
      expect(r.code, path).toBe(77);
    }
  });
});

describe("guard check", () => {
  // The decision table (fields, exit codes, detection, markers) is test/commands/check.test.ts, in process;
  // this is the built CLI's wiring: options, the JSON alone on stdout, the decision as the exit code.
  it("the built CLI prints the decision as JSON on stdout, exits with it (75), and never runs the command", async () => {
    const r = await guard(w, ["check", "--json", "--", "./maintenance/purge-lb-state.sh", "--all"], { env: PROD });
    expect(r.code, r.stderr).toBe(75);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ decision: "approval", environment: "production", rules: ["purge-needs-an-sre"] });
    expect(r.stdout + r.stderr).not.toContain("purged");
  });
});

describe("policy and configuration errors", () => {
  it("78 when no policy is configured, never an allow", async () => {
    const r = await guardIn(w, ["run", "--", "./maintenance/report-lb-state.sh"], { env: { GUARD_POLICY: undefined }, cwd: w.home });
    expect(r.code).toBe(78);
    expect(r.stdout).toBe("");
  });

  it("P5: a misspelled field stops every run with 78 and file:line:col", async () => {
    const bad = join(w.dir, "bad-policies");
    await mkdir(bad, { recursive: true });
    await writeFile(join(bad, "guard.yaml"), "version: 1\nenvironments:\n  production:\n    protected: true\nrules:\n  - name: x\n    match: { environments: [production] }\n    require: { aprovals: 2 }\n");
    const r = await guardIn(w, ["run", "--", "./maintenance/report-lb-state.sh"], { env: { GUARD_POLICY: bad } });
    expect(r.code).toBe(78);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/guard\.yaml:8:\d+/);
    expect(r.stderr).toMatch(/approvals/);
  });
});
