/**
 * The example projects in examples/ are documentation that runs: each must lint clean and pass its own
 * policy tests with the built CLI, from its own directory (found through its guard.config.yaml), so
 * that the examples never rot.
 */
import { describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { BIN, ROOT } from "../e2e/world.js";
import { loadPolicyDir } from "../../src/adapters/policy-files.js";
import { expandPreview } from "../../src/core/preview.js";
import { writeFile } from "node:fs/promises";

const run = promisify(execFile);
const EXAMPLES = join(ROOT, "examples");

async function guardIn(dir: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const home = await mkdtemp(join(tmpdir(), "guard-examples-"));
  try {
    // Only what a user's shell would have: no GUARD_* variables, so the example's own configuration decides.
    const base = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, XDG_STATE_HOME: join(home, "state"), XDG_CACHE_HOME: join(home, "cache"), NO_COLOR: "1" };
    const r = await run(process.execPath, [BIN, ...args], { cwd: dir, env: { ...base, ...env } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

describe("examples/", () => {
  it("holds the terraform, kubectl and psql projects", async () => {
    expect((await readdir(EXAMPLES, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort()).toEqual(["kubectl", "psql", "terraform"]);
  });

  it.each(["terraform", "kubectl", "psql"])("%s: `guard policy lint` is clean and `guard policy test` passes", async (name) => {
    const dir = join(EXAMPLES, name);
    const [lint, test] = await Promise.all([guardIn(dir, ["policy", "lint", "--json"]), guardIn(dir, ["policy", "test"])]);
    expect([lint.code, lint.stderr]).toEqual([0, ""]);
    expect(JSON.parse(lint.stdout)).toMatchObject({ ok: true, errors: [], warnings: [] });
    expect(test.code, test.stdout + test.stderr).toBe(0);
    expect(test.stdout).toMatch(/^([1-9]\d*) passed, 0 failed$/m);
  });

  it("psql: the real scripts resolve against the example's policy root", async () => {
    const dir = join(EXAMPLES, "psql");
    const prod = { PGHOST: "prod-db.internal", PGDATABASE: "state_prod" };
    const [vacuum, purge] = await Promise.all([
      guardIn(dir, ["check", "--json", "--", "./scripts/vacuum-state.sh"], prod),
      guardIn(dir, ["check", "--json", "--", "scripts/purge-state.sh", "--older-than", "90d"], prod),
    ]);
    expect([vacuum.code, JSON.parse(vacuum.stdout).rules]).toEqual([0, ["vacuum-is-routine"]]);
    expect([purge.code, JSON.parse(purge.stdout).rules]).toEqual([75, ["purge-needs-a-dba"]]);
  });

  /**
   * terraform and kubectl are not installed here: the previews' shell glue is run for real with a
   * stand-in program that prints the argv it was given and exits as told, so what is checked is exactly
   * the command the preview would execute and how it treats the exit status.
   */
  async function preview(example: string, rule: string, args: string[], exit = 0): Promise<{ code: number; stdout: string; stderr: string }> {
    const { policy } = await loadPolicyDir(join(EXAMPLES, example, "policies"));
    const r = policy.rules.find((x) => x.name === rule)!;
    if (r.effect.type !== "require" || !r.effect.preview) throw new Error(`${rule} has no preview`);
    const tmp = await mkdtemp(join(tmpdir(), "guard-preview-"));
    try {
      const program = join(tmp, "program");
      await writeFile(program, `#!/bin/sh\necho "$*"\nexit ${exit}\n`, { mode: 0o755 });
      const [cmd, ...rest] = expandPreview(r.effect.preview, program, args);
      const got = await run(cmd!, rest, { cwd: tmp }).then(
        (x) => ({ code: 0, stdout: x.stdout, stderr: x.stderr }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
      );
      return got;
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  it("terraform: the apply's preview is `terraform show` of the saved plan it names; no plan, no request", async () => {
    const rule = "apply-production-needs-a-platform-reviewer";
    expect(await preview("terraform", rule, ["apply", "prod.tfplan"])).toMatchObject({ code: 0, stdout: "show -no-color prod.tfplan\n" });
    expect(await preview("terraform", rule, ["-chdir=envs/prod", "apply", "-input=false", "prod.tfplan"])).toMatchObject({ code: 0, stdout: "-chdir=envs/prod show -no-color prod.tfplan\n" });
    const none = await preview("terraform", rule, ["apply", "-auto-approve"]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no saved plan to show: run terraform plan -out=FILE/);
  });

  it("kubectl: the apply's preview is `kubectl diff` of the same arguments; differences (exit 1) are a preview, errors fail it", async () => {
    const args = ["--context", "prod-eu-1", "apply", "-f", "deploy/checkout.yaml"];
    expect(await preview("kubectl", "apply-needs-an-sre", args)).toMatchObject({ code: 0, stdout: "--context prod-eu-1 diff -f deploy/checkout.yaml\n" });
    expect(await preview("kubectl", "apply-needs-an-sre", args, 1)).toMatchObject({ code: 0 });
    expect((await preview("kubectl", "apply-needs-an-sre", args, 2)).code).toBe(2);
  });
});
