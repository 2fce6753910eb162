/**
 * The example projects in examples/ are documentation that runs: each must lint clean and pass its own
 * policy tests, from its own directory (found through its guard.config.yaml), so that the examples never
 * rot. terraform's lint and test run the built CLI (the two at once, as a user's shell would start them),
 * so the file proves the real CLI finds and checks an example end to end; kubectl's and psql's, and the
 * psql checks, run guard's command line in the test process (guardIn, ../helpers/in-process.ts) with the
 * same directory and environment, one at a time.
 */
import { describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { BIN, ROOT, type World } from "../e2e/world.js";
import { guardIn } from "../helpers/in-process.js";
import { loadPolicyDir } from "../../src/adapters/policy-files.js";
import { expandPreview } from "../../src/core/preview.js";
import { writeFile } from "node:fs/promises";

const run = promisify(execFile);
const EXAMPLES = join(ROOT, "examples");

/** The built CLI (`inProcess`: guard's command line in the test process) in `dir`, with a fresh home. */
async function guardAt(dir: string, args: string[], env: Record<string, string> = {}, inProcess = false): Promise<{ code: number; stdout: string; stderr: string }> {
  const home = await mkdtemp(join(tmpdir(), "guard-examples-"));
  try {
    // Only what a user's shell would have: no GUARD_* variables, so the example's own configuration decides.
    const base = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, XDG_STATE_HOME: join(home, "state"), XDG_CACHE_HOME: join(home, "cache"), NO_COLOR: "1" };
    if (inProcess) {
      // No world: guardIn takes only the environment and the directory from it (and nobody's key).
      const noWorld = { dir, home, store: "", people: {}, env: { ...base, ...env }, cleanup: async () => undefined } satisfies World;
      return await guardIn(noWorld, args);
    }
    const r = await run(process.execPath, [BIN, ...args], { cwd: dir, env: { ...base, ...env } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

/** Sequentially in process (guardIn runs one guard at a time). */
async function inTurn<T>(...calls: Array<() => Promise<T>>): Promise<T[]> {
  const out: T[] = [];
  for (const call of calls) out.push(await call());
  return out;
}

describe("examples/", () => {
  it("holds the terraform, kubectl and psql projects", async () => {
    expect((await readdir(EXAMPLES, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort()).toEqual(["kubectl", "psql", "terraform"]);
  });

  it.each(["terraform", "kubectl", "psql"])("%s: `guard policy lint` is clean and `guard policy test` passes", async (name) => {
    const dir = join(EXAMPLES, name);
    const [lint, test] =
      name === "terraform"
        ? await Promise.all([guardAt(dir, ["policy", "lint", "--json"]), guardAt(dir, ["policy", "test"])])
        : await inTurn(() => guardAt(dir, ["policy", "lint", "--json"], {}, true), () => guardAt(dir, ["policy", "test"], {}, true));
    if (!lint || !test) throw new Error("two results expected");
    expect([lint.code, lint.stderr]).toEqual([0, ""]);
    expect(JSON.parse(lint.stdout)).toMatchObject({ ok: true, errors: [], warnings: [] });
    expect(test.code, test.stdout + test.stderr).toBe(0);
    expect(test.stdout).toMatch(/^([1-9]\d*) passed, 0 failed$/m);
  });

  it("psql: the real scripts resolve against the example's policy root", async () => {
    const dir = join(EXAMPLES, "psql");
    const prod = { PGHOST: "prod-db.internal", PGDATABASE: "state_prod" };
    const [vacuum, purge] = await inTurn(
      () => guardAt(dir, ["check", "--json", "--", "./scripts/vacuum-state.sh"], prod, true),
      () => guardAt(dir, ["check", "--json", "--", "scripts/purge-state.sh", "--older-than", "90d"], prod, true),
    );
    if (!vacuum || !purge) throw new Error("two results expected");
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
