/**
 * The example policy in policies/ (root: the repository top level): what it defines, its schema links and
 * the scripts it names. Running its own suite is in example-suite.test.ts.
 */
import { access, constants, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadPolicyDir } from "../../src/adapters/policy-files.js";

const repo = join(import.meta.dirname, "..", "..");

describe("policies/ (the example)", () => {
  it("loads with zero errors and zero warnings", async () => {
    const loaded = await loadPolicyDir(join(repo, "policies"), { tests: true });
    expect(loaded.warnings).toEqual([]);
    expect(loaded.policy.root).toBe(repo);
    expect(Object.keys(loaded.policy.environments).sort()).toEqual(["development", "production", "staging"]);
    expect(Object.keys(loaded.policy.principals).sort()).toEqual(["alice", "bob", "carol", "dave"]);
    expect(loaded.policy.defaultEnvironment).toBe("development");
    expect(loaded.policy.breakGlass).toEqual({ environments: ["production"], groups: ["sre"] });
    expect(loaded.policy.freezes.map((f) => [f.name, new Date(f.from).toISOString(), new Date(f.until).toISOString()])).toEqual([["year-end", "2026-12-23T00:00:00.000Z", "2027-01-02T00:00:00.000Z"]]);
    expect(loaded.files.map((f) => f.split("/").pop()).sort()).toEqual(["environments.yaml", "guard.test.yaml", "principals.yaml", "rules.yaml"]);
  });

  it("every policy file points editors at the committed JSON Schema", async () => {
    for (const name of ["environments.yaml", "principals.yaml", "rules.yaml"]) {
      expect((await readFile(join(repo, "policies", name), "utf8")).split("\n")[0]).toBe("# yaml-language-server: $schema=../schema/policy.schema.json");
    }
    expect((await readFile(join(repo, "policies", "guard.test.yaml"), "utf8")).split("\n")[0]).toBe("# yaml-language-server: $schema=../schema/policy-test.schema.json");
  });

  it("the maintenance scripts its rules name exist and are executable", async () => {
    const { policy } = await loadPolicyDir(join(repo, "policies"), { tests: true });
    const globs = policy.rules.flatMap((r) => r.match.commands ?? []).filter((c) => c.includes("/"));
    expect(globs.sort()).toEqual(["maintenance/migrate-*.sh", "maintenance/migrate-*.sh", "maintenance/purge-*.sh", "maintenance/report-*.sh"]);
    for (const script of ["purge-lb-state.sh", "report-lb-state.sh", "migrate-lb-schema.sh"]) {
      await access(join(repo, "maintenance", script), constants.X_OK);
    }
  });
});
