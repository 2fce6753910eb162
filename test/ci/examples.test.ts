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
});
